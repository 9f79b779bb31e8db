"""Stops training with a clear error as soon as the loss stops being finite."""

from __future__ import annotations

import math
from typing import Any

import keras

from kerobust.errors import KerobustError


class TrainingDiverged(KerobustError):
    """The training loss became NaN or infinite."""


class NaNGuard(keras.callbacks.Callback):
    """Raises `TrainingDiverged` on the first non-finite batch loss, before a bad epoch can be checkpointed.

    Args:
        hint: advice appended to the message (e.g. which flag to lower).
    """

    def __init__(self, hint: str = ""):
        super().__init__()
        self.hint = hint
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss} at epoch {self._epoch + 1}, batch {batch + 1}; "
                f"the last completed epoch's checkpoint is kept. {self.hint}".strip()
            )
