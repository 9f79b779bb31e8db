"""Adversarial logit pairing: adversarial training on a half clean, half adversarial batch, plus a term that pulls
each adversarial example's logits towards its clean ones.

Reference: Kannan, Kurakin & Goodfellow 2018, "Adversarial Logit Pairing", section 4.1: J(M, theta) +
lambda (1/m) sum_i L(f(x_i), f(x'_i)), where J is the cross-entropy of the mixed minibatch (0.5 clean, 0.5 PGD
examples, Madry et al.'s random start) and L is the squared l2 distance of the logits, here averaged over the
classes (the mean squared error of the logit vectors; lambda 0.5 on ImageNet).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining, batch_mean
from kerobust.training.method_rules import ALP_WEIGHT
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class LogitPairingTraining(CleanAndAdversarialTraining):
    """ALP with weight `weight` (lambda) on the logit-pairing term."""

    weight: float = ALP_WEIGHT

    name = "alp"
    natural_loss_on = "both"

    def adversarial_examples(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Seed) -> Tensor:
        return self.attack.perturb(oracle, x, y, seed)

    def pair_term(self, y: Tensor, clean_logits: Tensor, adversarial_logits: Tensor,
                  sample_weight: Tensor | None) -> Tensor:
        """lambda mean_i mean_k (z_k(x_i) - z_k(x'_i))^2; the gradient flows through both logits."""
        distance = ops.mean(ops.square(clean_logits - adversarial_logits), axis=-1)
        return self.weight * batch_mean(distance, sample_weight)

    def describe(self) -> str:
        return f"adversarial logit pairing, weight {self.weight:g} (0.5 clean + 0.5 {self.attack.describe()})"
