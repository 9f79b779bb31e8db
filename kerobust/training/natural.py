"""Natural (non-adversarial) training."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kerobust.training.method import TrainingMethod
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class NaturalTraining(TrainingMethod):
    """Trains on the clean batch: the baseline every robust method is compared with."""

    name = "natural"

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        return x, y, sample_weight
