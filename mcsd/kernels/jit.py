"""The one module that owns numba: jit options, CPU features, intrinsics, scipy bindings.

Every kernel module takes its decorators and its numba-level primitives from here and
imports no numba of its own, so the CPU-feature setting below is made before numba reads
its configuration.

CPU features: LLVM's tuning for recent Intel server cores (Ice Lake server and later)
prefers 256-bit vectors even where the core has AVX-512. The kernels are long vectorized
loops over a block of paths, for which the full 512-bit width measured 10-15% faster (study
priors, Sapphire/Emerald Rapids; on AMD Zen 4 it measured the same as numba's default).
Vector width never changes a number: every lane does the same IEEE operations as a scalar
path would (no fastmath), so results are bit-identical at any width; only the numba cache
key (the CPU features) differs. Set ``NUMBA_CPU_FEATURES`` yourself, or import numba before
mcsd, to keep numba's defaults.

scipy.special: the incomplete-gamma/beta inverses, ndtr and ndtri_exp are scipy's own
compiled functions, bound here by symbol name so cached kernels can call them.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

NO_PREFER_256 = "-prefer-256-bit"
MAX_ENV_THREADS = 4096


def env_threads() -> int | None:
    """NUMBA_NUM_THREADS as an int, None when unset or blank; ValueError naming the variable
    and value when it is not a whole number from 1 to ``MAX_ENV_THREADS`` (numba itself
    would fail at import with a message that names neither)."""
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env is None or not env.strip():
        return None
    text = env.strip()
    whole = text.isascii() and text.isdigit() and len(text) <= 6
    if not whole or not 1 <= int(text) <= MAX_ENV_THREADS:
        shown = env if len(env) <= 40 else env[:37] + "..."
        raise ValueError(
            f"environment variable NUMBA_NUM_THREADS must be a whole number from 1 to "
            f"{MAX_ENV_THREADS} (or unset), got {shown!r}"
        )
    return int(text)


def prefer_full_width_vectors() -> bool:
    """Ask numba for 512-bit vectors on AVX-512 CPUs; True when the setting was made.

    Does nothing when ``NUMBA_CPU_FEATURES`` is set (the user's choice wins), when numba
    has already read its configuration, or when the CPU has no AVX-512.
    """
    if "NUMBA_CPU_FEATURES" in os.environ or "numba" in sys.modules:
        return False
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f", False):
        return False
    os.environ["NUMBA_CPU_FEATURES"] = f"{features.flatten()},{NO_PREFER_256}"
    return True


env_threads()  # before numba reads it, below
prefer_full_width_vectors()  # before numba is imported, below

import llvmlite.binding as ll  # noqa: E402
import numba  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.core import caching  # noqa: E402
from numba.extending import get_cython_function_address, intrinsic  # noqa: E402

# ---------------------------------------------------------------- the kernels' cache key
# numba stamps each cached function with its own file's mtime and size only, so after an
# edit of sampling.py a cached simulate_paths (paths.py) would go on running the old
# sampler. The kernels' entries are stamped instead with a digest of every kernel module's
# source: any edit in this folder recompiles them all.
KERNELS_DIR = os.path.dirname(os.path.abspath(__file__))


def kernel_source_digest() -> str:
    """sha256 of the kernel modules' sources (file names and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(KERNELS_DIR)):
        if name.endswith(".py"):
            h.update(name.encode() + b"\0")
            with open(os.path.join(KERNELS_DIR, name), "rb") as f:
                h.update(f.read() + b"\0")
    return h.hexdigest()


KERNEL_SOURCE_DIGEST = kernel_source_digest()


def _kernels_locator(base: Any) -> Any:
    """``base`` (a numba cache locator) for kernel modules only, stamped with the digest."""

    class KernelsLocator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != KERNELS_DIR:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return ("mcsd-kernels", KERNEL_SOURCE_DIGEST)

    KernelsLocator.__name__ = KernelsLocator.__qualname__ = f"Kernels{base.__name__}"
    return KernelsLocator


_BASE_LOCATORS: tuple[type, ...] = (
    caching.UserProvidedCacheLocator,
    caching.InTreeCacheLocator,
    caching.UserWideCacheLocator,
)
caching.CacheImpl._locator_classes[:0] = list(map(_kernels_locator, _BASE_LOCATORS))

# error_model="numpy": no zero-division checks (every division in the kernels is guarded or
# has a nonzero denominator), which lets LLVM vectorize and keeps branches out of hot loops.
# fastmath stays off: it would reassociate sums and break bit-for-bit reproducibility.
jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
# Small helpers are inlined into numba's IR, so they fold into the callers' vectorized loops.
jit_inline = numba.njit(
    nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always"
)


def _scipy_special(symbol: str, cython_name: str, n_args: int) -> types.ExternalFunction:
    """scipy's compiled special function, callable from (cached) numba code by symbol name."""
    ll.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special", cython_name))
    return types.ExternalFunction(symbol, types.float64(*([types.float64] * n_args)))


scipy_ndtr = _scipy_special("mcsd_ndtr", "__pyx_fuse_1ndtr", 1)
scipy_gammaincinv = _scipy_special("mcsd_gammaincinv", "gammaincinv", 2)
scipy_betaincinv = _scipy_special("mcsd_betaincinv", "__pyx_fuse_0betaincinv", 3)
scipy_ndtri_exp = _scipy_special("mcsd_ndtri_exp", "ndtri_exp", 1)


# ---------------------------------------------------------------- float64 bit access
@intrinsic
def float_bits(typingctx, x):
    """The IEEE-754 bits of float64 ``x`` as an int64 (a bitcast, so loops still vectorize)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def bits_float(typingctx, n):
    """The float64 whose IEEE-754 bits are the int64 ``n``."""
    if not isinstance(n, types.Integer) or n.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(n), codegen
