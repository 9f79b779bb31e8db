"""MART: misclassification-aware adversarial training.

Reference: Wang, Zou, Yi, Bailey, Ma & Gu 2020, "Improving Adversarial Robustness Requires Revisiting Misclassified
Examples", eq. (10)-(11): the loss of example (x, y) with adversarial x' is

    BCE(p(x'), y) + beta KL(p(x) || p(x')) (1 - p_y(x)),
    BCE(p(x'), y) = -log p_y(x') - log(1 - max_{k != y} p_k(x')),

the boosted cross-entropy, whose second term widens the margin to the most likely wrong class, plus the KL term
weighted up on the examples the model misclassifies (small p_y(x)). The gradient flows through p_y(x) too, as in
the authors' code; beta 6 there. x' is PGD on the cross-entropy from x + 0.001 N(0, I), as in that code.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.attacks.losses import kl_per_example
from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining, batch_mean
from kerobust.training.method_rules import MART_BETA
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


def log_one_minus_softmax(logits: Tensor) -> Tensor:
    """log(1 - p_k) for every class k, p = softmax(logits), computed stably as logsumexp_{j != k} z_j -
    logsumexp_j z_j."""
    classes = logits.shape[-1]
    others = ops.where(ops.eye(classes, dtype="bool")[None], -1e30, logits[:, None, :])  # row k masks class k
    return ops.logsumexp(others, axis=-1) - ops.logsumexp(logits, axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class MartTraining(CleanAndAdversarialTraining):
    """MART with weight `beta` on the misclassification-weighted KL term."""

    beta: float = MART_BETA

    name = "mart"
    natural_loss_on = "adversarial"  # Keras's cross-entropy of x' is BCE's first term

    def adversarial_examples(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Seed) -> Tensor:
        return self.attack.perturb(oracle, x, y, seed)

    def pair_term(self, y: Tensor, clean_logits: Tensor, adversarial_logits: Tensor,
                  sample_weight: Tensor | None) -> Tensor:
        """-log(1 - max_{k != y} p_k(x')) + beta KL(p(x) || p(x')) (1 - p_y(x)), averaged over the batch."""
        labels = ops.one_hot(ops.cast(ops.reshape(y, (-1,)), "int32"), clean_logits.shape[-1],
                             dtype=clean_logits.dtype)
        adversarial_logits = ops.cast(adversarial_logits, "float32")
        runner_up = ops.argmax(adversarial_logits - 1e30 * labels, axis=-1)  # the most likely wrong class of x'
        margin = -ops.sum(log_one_minus_softmax(adversarial_logits)
                          * ops.one_hot(runner_up, labels.shape[-1], dtype=labels.dtype), axis=-1)
        clean = ops.softmax(ops.cast(clean_logits, "float32"), axis=-1)
        divergence = kl_per_example(clean, adversarial_logits)
        true_probability = ops.sum(clean * labels, axis=-1)
        return batch_mean(margin + self.beta * divergence * (1.0 - true_probability), sample_weight)

    def describe(self) -> str:
        return f"MART training, beta {self.beta:g} ({self.attack.describe()})"
