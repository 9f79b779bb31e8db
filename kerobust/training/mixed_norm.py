"""Mixed-norm adversarial training (MAT): PGD examples in both l-inf and l2 balls.

Reference: Araujo, Meunier, Pinot & Negrevergne 2020, "Advocating for Multiple Defense Strategies against
Adversarial Examples", sec. 4 (MAT-Rand: each example is trained on the PGD example of a norm drawn at random;
MAT-Max: on the more damaging of the two); Bigaud, Papereux & Rolland (2021), "Adversarial training for image
classification" (the BIPARO report), section 2.3 and Table 2. The BIPARO report's wording, "randomly selecting one
adversarial example among the two most damaging", is MAT-Rand when there are two norms: both are the two most
damaging.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust import backend
from kerobust.attacks.attack import Attack
from kerobust.attacks.lp_geometry import per_sample
from kerobust.training.method import TrainingMethod
from kerobust.types import LossFn, Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle

SELECTIONS = ("rand", "max")
_SPLIT_SALT = 104729  # moves the split's seed away from the attacks' own random starts


@dataclasses.dataclass(frozen=True)
class MixedNormTraining(TrainingMethod):
    """Trains on l-inf and l2 PGD examples.

    `selection="rand"` (MAT-Rand): a random half of each batch (a fresh random split per step, so every example
    draws its norm with probability 1/2) gets the l-inf attack and the other half the l2 attack; costs one attack per
    batch. `selection="max"` (MAT-Max): both attacks on every example, keeping per example the one with the higher
    loss; costs two.
    """

    # Required: None is only the default that a field after `seed` needs.
    linf_attack: Attack = None  # type: ignore[assignment]
    l2_attack: Attack = None  # type: ignore[assignment]
    selection: str = "rand"

    @property
    def name(self) -> str:  # type: ignore[override]  # the base's class attribute, derived here
        return f"mat-{self.selection}"

    @property
    def loss_fn(self) -> LossFn:
        return self.linf_attack.loss_fn(from_logits=True)

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        if self.selection == "max":
            x_linf = self.linf_attack.perturb(oracle, x, y, seed)
            x_l2 = self.l2_attack.perturb(oracle, x, y, seed + 1)
            worse = oracle.losses(x_linf, y) >= oracle.losses(x_l2, y)
            return ops.where(per_sample(worse, x), x_linf, x_l2), y, sample_weight
        n = ops.shape(x)[0]
        order = ops.argsort(backend.uniform((n,), seed + _SPLIT_SALT))
        half = n // 2
        first, second = order[:half], order[half:]
        parts = [
            self.linf_attack.perturb(oracle, ops.take(x, first, axis=0), ops.take(y, first, axis=0), seed),
            self.l2_attack.perturb(oracle, ops.take(x, second, axis=0), ops.take(y, second, axis=0), seed + 1),
        ]
        # Back to the batch's own row order, so labels and sample weights stay as they are.
        return ops.take(ops.concatenate(parts, axis=0), ops.argsort(order), axis=0), y, sample_weight

    def describe(self) -> str:
        how = "random half per norm" if self.selection == "rand" else "the more damaging per example"
        return (f"MAT-{self.selection.capitalize()} training ({self.linf_attack.describe()} + "
                f"{self.l2_attack.describe()}, {how})")
