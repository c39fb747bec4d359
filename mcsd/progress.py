"""Progress reporting for long runs (tqdm on stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(total_paths: int, enabled: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yield a callback taking the number of paths just finished.

    ``enabled=None`` shows the bar only once a run has lasted a second (tqdm's ``delay``).
    """
    if enabled is False:
        yield lambda n: None
        return
    # imported here: a run without a bar (the API's progress=False) never loads tqdm;
    # plain tqdm, as tqdm.auto warns in Jupyter without ipywidgets
    from tqdm import tqdm

    bar = tqdm(
        total=total_paths,
        unit="path",
        unit_scale=True,
        delay=0.0 if enabled else 1.0,
        leave=False,
        dynamic_ncols=True,
    )
    try:
        yield bar.update
    finally:
        bar.close()
