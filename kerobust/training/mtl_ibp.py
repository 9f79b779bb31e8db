"""MTL-IBP: a convex combination of the adversarial loss and the IBP loss.

Reference: De Palma, Bunel, Dvijotham, Kumar, Stanforth & Lomuscio 2024, "Expressive Losses for Verified Robustness
via Convex Combinations", section 3 (MTL-IBP): L = (1 - alpha) CE(f(x'), y) + alpha CE(-m, y), x' an attack in the
eps-ball (here PGD on the cross-entropy) and m IBP's margin bounds over the ball; alpha trades accuracy under attack
(small alpha) for verifiability (large alpha) and is tuned per setting in the paper.

Here within kerobust's certified schedule (`CertifiedTraining`): natural steps, then eps (and with it the attack's
radius) ramps from 0 while kappa falls to `kappa_end` (default 0: MTL-IBP's loss alone), the loss being
kappa CE(f(x), y) + (1 - kappa) L. The batch is the clean batch and its adversarial copy (x and x' in one forward
pass, as `CleanAndAdversarialTraining`'s).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from keras import ops

from kerobust.attacks.pgd import PGD
from kerobust.training.certified import CertifiedTraining, verified_term
from kerobust.training.method import replica_share
from kerobust.training.method_rules import MTL_ALPHA
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle
    from kerobust.bounds.linear.interval import IntervalBounds


@dataclasses.dataclass(frozen=True)
class MtlIbpTraining(CertifiedTraining):
    """MTL-IBP with IBP weight `alpha` and the PGD `attack` (its eps is the full training eps; eps and step scale
    with the ramp)."""

    bound: str = "mtl-ibp"
    alpha: float = MTL_ALPHA
    # Required: None is only the default that a field after `seed` needs.
    attack: PGD = None  # type: ignore[assignment]

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        """x and its PGD copy at the ramp's radius eps_t (x itself during the warm-up), concatenated."""
        scale = self.progress(step)
        x_adv = ops.cond(scale > 0, lambda: self.attack.perturb_scaled(oracle, x, y, seed, scale), lambda: x)
        if sample_weight is not None:
            sample_weight = ops.concatenate([sample_weight, sample_weight], axis=0)
        return ops.concatenate([x, x_adv], axis=0), ops.concatenate([y, y], axis=0), sample_weight

    def training_loss(self, keras_loss: Callable[..., Tensor], bounds: IntervalBounds,  # type: ignore[override]
                      x: Tensor, y: Tensor, y_pred: Tensor, sample_weight: Tensor | None,
                      step: int | Tensor) -> Tensor:
        """Keras's loss on the clean half, CE(f(x), y), plus (1 - kappa) ((1 - alpha) CE(f(x'), y) + alpha
        CE(-m, y) - CE(f(x), y)), the batch mean, m IBP's margin bounds over the ball of radius eps_t around x."""
        n = ops.shape(y)[0] // 2
        weights = None if sample_weight is None else sample_weight[:n]
        loss = keras_loss(x=x[:n], y=y[:n], y_pred=y_pred[:n], sample_weight=weights, training=True)
        done = self.progress(step)
        kappa = 1.0 + (self.final_kappa - 1.0) * done
        labels = ops.cast(ops.reshape(y[:n], (-1,)), "int32")
        margins, regularization = self.interval_terms(bounds, x[:n], labels, self.eps * done, done)

        # verified_term is linear in its worst-case cross-entropy: the alpha mix of two terms is the term of the mix.
        clean = y_pred[:n]
        term = ((1.0 - self.alpha) * verified_term(y_pred[n:], labels, clean, weights, kappa)
                + self.alpha * verified_term(-margins, labels, clean, weights, kappa))
        return loss + replica_share(term + regularization)

    def describe(self) -> str:
        return (f"MTL-IBP training at {self.norm} eps {self.eps:g}, alpha {self.alpha:g} with "
                f"{self.attack.describe().split()[0]} (warm-up {self.warmup_steps} steps, ramp {self.ramp_steps} "
                f"steps, kappa 1 -> {self.final_kappa:g}{self.fast_ibp_words()})")
