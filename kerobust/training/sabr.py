"""SABR: certified training on the interval bound of a small box around an adversarial point.

Reference: Mueller, Eckert, Fischer & Vechev 2023, "Certified Training: Small Boxes are All You Need", section 4: for
an eps-ball around x, an attack finds x' in the ball of radius eps - tau around x (here PGD on the cross-entropy),
tau = lambda eps, and the loss is the cross-entropy of the worst case IBP allows over the box of radius tau around x'
(inside the eps-ball, in the input box). A small box keeps the bound tight enough to train while still covering the
points an attack reaches; lambda = 1 is IBP training. lambda 0.4 was their MNIST value at eps 0.1.

Here within kerobust's certified schedule (`CertifiedTraining`): natural steps, then eps (and with it the attack's
radius and the box) ramps from 0 while kappa falls to `kappa_end` (default 0: SABR's loss alone). The kappa term is
the cross-entropy at x' (x itself during the warm-up, where the radius is 0), so one forward pass serves both terms.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.attacks.pgd import PGD
from kerobust.training.certified import CertifiedTraining, verified_term
from kerobust.training.method_rules import SABR_LAMBDA
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle
    from kerobust.bounds.linear.interval import IntervalBounds


@dataclasses.dataclass(frozen=True)
class SabrTraining(CertifiedTraining):
    """SABR with box share `box_share` (lambda) and the PGD `attack` (its eps is the full training eps; the step
    scales with the ramp and with 1 - lambda)."""

    bound: str = "sabr"
    box_share: float = SABR_LAMBDA
    # Required: None is only the default that a field after `seed` needs.
    attack: PGD = None  # type: ignore[assignment]

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        """The box centres x': PGD in the ball of radius (1 - lambda) eps_t around x (x during the warm-up)."""
        scale = (1.0 - self.box_share) * self.progress(step)
        return ops.cond(scale > 0, lambda: self.attack.perturb_scaled(oracle, x, y, seed, scale),
                        lambda: x), y, sample_weight

    def certified_loss(self, bounds: IntervalBounds, x: Tensor, y: Tensor,  # type: ignore[override]  # IBP only
                       y_pred: Tensor, sample_weight: Tensor | None, step: int | Tensor) -> Tensor:
        """(1 - kappa) (CE(-m, y) - CE(z, y)), m IBP's margin bounds over the box of radius lambda eps_t around the
        batch's x' (z: the logits at x')."""
        done = self.progress(step)
        kappa = 1.0 + (self.final_kappa - 1.0) * done
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        margins, regularization = self.interval_terms(bounds, x, labels, self.box_share * self.eps * done, done)
        return verified_term(-margins, labels, y_pred, sample_weight, kappa) + regularization

    def describe(self) -> str:
        return (f"SABR training at {self.norm} eps {self.eps:g}, boxes of lambda {self.box_share:g} eps around "
                f"{self.attack.describe().split()[0]} points (warm-up {self.warmup_steps} steps, ramp "
                f"{self.ramp_steps} steps, kappa 1 -> {self.final_kappa:g}{self.fast_ibp_words()})")
