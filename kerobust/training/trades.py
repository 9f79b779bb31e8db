"""TRADES: the natural loss plus beta times the KL divergence of the adversarial output from the clean one.

Reference: Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019, "Theoretically Principled Trade-off between Robustness
and Accuracy", eq. (5) and Algorithm 1: min_f E[CE(f(x), y) + beta max_{x' in B(x, eps)} KL(f(x) || f(x'))], with
beta = 1 / lambda (6 in their CIFAR-10 and MNIST experiments). The inner maximisation is PGD on KL(f(x) || f(x'))
from x + 0.001 N(0, I), f(x) taken from the model in inference mode; the KL term is averaged over the batch.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.attacks.losses import kl_divergence, kl_per_example
from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining, batch_mean
from kerobust.training.method_rules import TRADES_BETA
from kerobust.types import LossFn, Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class TradesTraining(CleanAndAdversarialTraining):
    """TRADES with weight `beta` on the KL term; `attack` should be a PGD with `gaussian_start=0.001` (the registry
    builds it so)."""

    beta: float = TRADES_BETA

    name = "trades"
    natural_loss_on = "clean"

    @property
    def loss_fn(self) -> LossFn:
        """The attack maximises KL(f(x) || f(x')): its labels are the clean probabilities f(x)."""
        return kl_divergence(from_logits=True)

    def adversarial_examples(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Seed) -> Tensor:
        return self.attack.perturb(oracle, x, ops.softmax(oracle.logits(x), axis=-1), seed)

    def pair_term(self, y: Tensor, clean_logits: Tensor, adversarial_logits: Tensor,
                  sample_weight: Tensor | None) -> Tensor:
        """beta KL(f(x) || f(x')), averaged over the batch; the gradient flows through both outputs."""
        divergence = kl_per_example(ops.softmax(clean_logits, axis=-1), adversarial_logits)
        return self.beta * batch_mean(divergence, sample_weight)

    def describe(self) -> str:
        return f"TRADES training, beta {self.beta:g} ({self.attack.describe()} on KL(f(x) || f(x')))"
