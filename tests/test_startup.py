"""Start-up cost: ``import mcsd`` is lazy (PEP 562) and internal modules never import the
package's ``__init__`` for a name.

* ``import mcsd`` loads none of dask, distributed, matplotlib, scipy.stats or numba;
* ``mcsd.simulate`` (attribute access, which imports the API and the engine) loads none of
  dask, matplotlib or scipy.stats;
* no module under ``mcsd/`` but ``mcsd/__init__.py`` says ``from mcsd import `` or
  ``import mcsd`` (a whole line): internal imports name the defining module.

Each import check runs in a fresh interpreter, since this test process has imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mcsd"

HEAVY = ("dask", "distributed", "matplotlib", "scipy.stats", "numba")


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` are in ``sys.modules`` after running ``code`` in a fresh process."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "import mcsd\n"
        f"print(json.dumps([mcsd.__file__, [m for m in {list(modules)!r} if m in sys.modules]]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    where, loaded = json.loads(proc.stdout.splitlines()[-1])
    assert Path(where).resolve() == PACKAGE / "__init__.py"  # this checkout's package
    return loaded


def test_import_mcsd_loads_no_heavy_module() -> None:
    assert _loaded_after("import mcsd", HEAVY) == []


def test_simulate_attribute_loads_no_dask_matplotlib_or_scipy_stats() -> None:
    code = "import mcsd\nassert callable(mcsd.simulate)"
    assert _loaded_after(code, ("dask", "matplotlib", "scipy.stats")) == []


def _package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


@pytest.mark.parametrize("pattern", ["from mcsd import ", "import mcsd\n"])
def test_no_internal_module_imports_the_package_init(pattern: str) -> None:
    modules = _package_modules()
    assert len(modules) > 20  # the sub-packages are there
    offenders = [
        str(p.relative_to(ROOT)) for p in modules if pattern in p.read_text(encoding="utf-8")
    ]
    assert offenders == [], f"{pattern!r} in {offenders}"
