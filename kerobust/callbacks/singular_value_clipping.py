"""Periodic singular value clipping during `fit` (Sedghi, Gupta & Long 2019; the SVC of Table 2 of
Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness")."""

from __future__ import annotations

from typing import Any

import keras

from kerobust.callbacks.classifier_of import classifier_of
from kerobust.constraints.singular_value_clip import check_limit, clip_layers, clip_plan
from kerobust.errors import KerobustError


class SingularValueClipping(keras.callbacks.Callback):
    """Every `every` training batches and on every epoch's last batch (so validated, checkpointed and final weights
    hold the bound), clips the singular values of every Conv2D of the fitted model's classifier to `limit` (see
    `kerobust.constraints.clip_singular_values`). The batch count restarts with each epoch and each `fit` call.

    Args:
        limit: c, the largest singular value allowed.
        every: batches between clips (the reference code of Liang & Huang (2021): 100 steps).
        exact: rescale after Sedghi's crop so the bound holds.
        operator: "circular" (Sedghi et al.: the circular convolution on the input size) or "layer" (a grid that
            also bounds the zero-padded layer itself); see `kerobust.constraints.clip_grid`.
    """

    def __init__(self, limit: float, every: int = 100, exact: bool = True, operator: str = "circular"):
        super().__init__()
        self.limit = check_limit(limit)
        if int(every) < 1:
            raise KerobustError(f"clipping interval must be >= 1 batch, got {every!r}.")
        self.every = int(every)
        self.exact = exact
        self.operator = operator
        self.clips = 0
        self._since_clip = 0
        self._plan: list[tuple[keras.layers.Conv2D, tuple[int, ...]]] | None = None  # `clip_plan`'s, at train begin

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Fails before the first step on an unsupported layer (`clip_plan(classifier)` checks it before any setup).
        self._plan = clip_plan(classifier_of(self.model), self.operator)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._since_clip = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._since_clip += 1
        last = (self.params or {}).get("steps") == batch + 1
        if self._since_clip >= self.every or last:
            self._clip()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._since_clip:  # the epoch's length was unknown
            self._clip()

    def _clip(self):
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()  # the variables hold the latest step; the next step reads them back
        clip_layers(self._plan, self.limit, self.exact)
        self.clips += 1
        self._since_clip = 0
