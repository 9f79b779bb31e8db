"""Half clean, half adversarial training: the recipe of parametric noise injection.

Reference: Rakin, He & Fan 2018, "Parametric Noise Injection", eq. (5): loss = 0.5 CE(f(x), y) + 0.5 CE(f(x'), y),
where the PGD example x' attacks the model's own clean prediction (not the label), avoiding label leaking
(Kurakin et al. 2017); Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification" (the
BIPARO report), section 3.2.2.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.training.attack_training import AttackTraining
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class CleanAndAdversarialTraining(AttackTraining):
    """Trains on the clean batch and its adversarial copy together, each weighing one half of the loss.

    The two halves go through the model as one concatenated batch (so batch norm sees both at once, and a noise
    layer draws one noise sample for the step); the reference runs two forward passes.
    """

    name = "pni"

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed) -> tuple[Tensor, Tensor, Tensor | None]:
        predicted = ops.cast(ops.argmax(oracle.logits(x), axis=-1), y.dtype)
        x_adv = self.attack.perturb(oracle, x, predicted, seed)
        if sample_weight is not None:
            sample_weight = ops.concatenate([sample_weight, sample_weight], axis=0)
        return ops.concatenate([x, x_adv], axis=0), ops.concatenate([y, y], axis=0), sample_weight

    def describe(self) -> str:
        return f"clean + adversarial training, 1:1 (PNI recipe; {self.attack.describe()} on predicted labels)"
