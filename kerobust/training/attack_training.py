"""Adversarial training on examples of a given attack: FGSM training and PGD (Madry) training."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kerobust.attacks.attack import Attack
from kerobust.training.method import TrainingMethod
from kerobust.types import LossFn, Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class AttackTraining(TrainingMethod):
    """Trains on `attack`'s adversarial examples of each batch (the inner maximisation of the saddle point problem).

    With a PGD attack this is Madry et al. 2018 ("Towards Deep Learning Models Resistant to Adversarial Attacks",
    eq. (2.1)); with FGSM and a random start it is Wong et al. 2020 ("Fast is better than free", Algorithm 3).
    """

    # Required: None is only the default that a field after `seed` needs.
    attack: Attack = None  # type: ignore[assignment]

    @property
    def name(self) -> str:  # type: ignore[override]  # the base's class attribute, derived here
        return self.attack.name.lower()

    @property
    def loss_fn(self) -> LossFn:
        return self.attack.loss_fn(from_logits=True)

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        return self.attack.perturb(oracle, x, y, seed), y, sample_weight

    def describe(self) -> str:
        return f"{self.name} training ({self.attack.describe()})"
