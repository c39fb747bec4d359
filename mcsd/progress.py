"""Progress reporting for long runs (tqdm on stderr), and the first-run compile notice.

The kernels are compiled by numba on their first call and cached on disk. When that cache
is cold (a fresh install, or after an edit of a kernel module) the first run spends tens of
seconds compiling before any path is done: :func:`kernels_cached` tells that apart cheaply
(it reads the cache's small index file; nothing is compiled), :func:`compile_notice` says so
on stderr, and :func:`progress_bar` starts its bar, and so its ETA, only after the first
paths are done, so the compile time does not count as path time.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

COMPILE_NOTICE = "compiling kernels (first run only)..."

_noticed = False  # the notice is printed once per process


def kernels_cached() -> bool | None:
    """Whether the path kernel is ready to run without compiling: True when it is already
    loaded in this process or its numba cache holds an entry for this CPU and source;
    False when the cache is cold (its first call compiles); None when it cannot be told
    (no cache, or a numba whose cache layout differs)."""
    try:
        from mcsd.kernels.paths import simulate_paths as kernel
    except ImportError:  # pragma: no cover
        return None
    if getattr(kernel, "signatures", None):
        return True  # compiled or loaded earlier in this process
    try:
        dispatcher: Any = kernel  # numba internals, untyped
        index = dispatcher._cache._cache_file._load_index()  # {} when absent or stale
        magic = dispatcher.targetctx.codegen().magic_tuple()  # the CPU and its features
        code = hashlib.sha256(kernel.py_func.__code__.co_code).hexdigest()
        return any(key[1] == magic and key[2][0] == code for key in index)
    except Exception:  # a private layout: say nothing rather than something wrong
        return None


def compile_notice(stream: TextIO | None = None) -> bool:
    """Print :data:`COMPILE_NOTICE` on ``stream`` (stderr) when the kernels will compile
    (cold cache), once per process; True when it was printed."""
    global _noticed
    if _noticed or kernels_cached() is not False:
        return False
    _noticed = True
    out = sys.stderr if stream is None else stream
    try:
        print(COMPILE_NOTICE, file=out, flush=True)
    except (OSError, ValueError):  # stderr gone: nothing to tell
        pass
    return True


@contextmanager
def progress_bar(
    total_paths: int, enabled: bool | None = None, *, notice: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield a callback taking the number of paths just finished (thread-safe).

    ``enabled=None`` shows the bar only once a run has lasted a second (tqdm's ``delay``).
    ``notice``: print :data:`COMPILE_NOTICE` first when the kernels will compile (default:
    when the bar is enabled). When they will compile, the bar is made at the first
    callback (counting those paths as its start), so its rate and ETA leave the compile out.
    """
    if enabled is False:
        if notice:
            compile_notice()
        yield lambda n: None
        return
    cold = kernels_cached() is False
    if cold and notice is not False:
        compile_notice()
    # imported here: a run without a bar (the API's progress=False) never loads tqdm;
    # plain tqdm, as tqdm.auto warns in Jupyter without ipywidgets
    from tqdm import tqdm

    def make(initial: int) -> tqdm:
        return tqdm(
            total=total_paths,
            initial=initial,
            unit="path",
            unit_scale=True,
            delay=0.0 if enabled else 1.0,
            leave=False,
            dynamic_ncols=True,
        )

    bars: list[tqdm] = [] if cold else [make(0)]
    lock = threading.Lock()

    def update(n: int) -> None:
        with lock:
            if bars:
                bars[0].update(n)
            else:  # the first paths after the compile: the bar (and its clock) starts here
                bars.append(make(n))

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()
