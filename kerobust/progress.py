"""Progress that reads well on a terminal and in a log: Keras's live bar on a terminal, plain lines elsewhere.

Keras's `Progbar` colours its bar with ANSI escape codes even when the output is redirected; in a log file or a CI
page they are noise. `progress_bar` keeps the live bar for a terminal and otherwise writes one plain line at most
every `every_seconds`, and always the last one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

import keras


class PlainProgress:
    """`update(current, values)` like `keras.utils.Progbar`, written as plain lines: `label 3/12 batch - 41s - clean:
    0.9812 - PGD-20@0.2: 0.6875`."""

    def __init__(self, total: int, unit_name: str = "step", label: str = "", every_seconds: float = 10.0,
                 stream: TextIO | None = None) -> None:
        self.total, self.unit_name, self.label = total, unit_name, label
        self.every_seconds = every_seconds
        self.stream = stream
        self.started = self.last = time.monotonic()

    def update(self, current: int, values: Sequence[tuple[str, float]] | None = None,
               finalize: bool | None = None) -> None:
        now = time.monotonic()
        finalize = current >= self.total if finalize is None else finalize
        if not finalize and now - self.last < self.every_seconds:
            return
        self.last = now
        metrics = "".join(f" - {name}: {value:.4f}" for name, value in values or [])
        prefix = f"{self.label} " if self.label else ""
        print(f"{prefix}{current}/{self.total} {self.unit_name} - {now - self.started:.0f}s{metrics}",
              file=self.stream or sys.stdout, flush=True)


def is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def progress_bar(total: int, unit_name: str = "step", stateful_metrics: Sequence[str] | None = None,
                 label: str = "") -> keras.utils.Progbar | PlainProgress:
    """Keras's live `Progbar` when stdout is a terminal, else a `PlainProgress` on stdout."""
    if is_terminal(sys.stdout):
        return keras.utils.Progbar(total, unit_name=unit_name, stateful_metrics=stateful_metrics)
    return PlainProgress(total, unit_name, label=label)
