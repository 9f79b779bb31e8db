"""PNG figures written the one way kerobust writes files: matplotlib's Agg backend, a tight layout, an atomic save."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kerobust.atomic_files import atomic_path
from kerobust.output_paths import writer

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@contextlib.contextmanager
def png_figure(path: str | os.PathLike[str], *grid: int, dpi: int = 120,
               **subplots: Any) -> Iterator[tuple[Figure, Any]]:
    """Yields `(figure, axes)` from `plt.subplots(*grid, **subplots)`; on a clean exit the figure is laid out and
    saved to `path` atomically, stamped with the command that wrote it. It is closed either way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(*grid, **subplots)
    try:
        yield figure, axes
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=dpi, metadata={"Software": writer()})
    finally:
        plt.close(figure)
