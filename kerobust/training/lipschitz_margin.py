"""Lipschitz-margin training: cross-entropy on the logits of the worst case the global Lipschitz bound allows.

References: Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-Margin Training", section 4 (each non-true logit raised by
sqrt(2) L eps); Leino, Wang & Fredrikson 2021 (GloRo), eq. (2), which raises logit c by eps K_yc with K_yc the
Lipschitz constant of z_y - z_c. Here K_yc = ||w_y - w_c|| L, L the Lipschitz constant of input -> head features
(`TrainableLipschitz`): exactly the quantity `lipschitz` certification divides the margin by, so a training point
whose raised logits still put y first is certified at radius eps. l2 only. eps ramps from 0 after a natural warm-up
as in IBP training; kappa (the natural loss's final weight) defaults to 0, Tsuzuku et al.'s loss.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust.bounds.lipschitz.output_margin import pair_distances
from kerobust.training.certified import CertifiedTraining, verified_term
from kerobust.types import Tensor

if TYPE_CHECKING:
    import keras

    from kerobust.bounds.lipschitz.trainable_lipschitz import TrainableLipschitz


@dataclasses.dataclass(frozen=True)
class LipschitzMarginTraining(CertifiedTraining):
    """Tsuzuku et al.'s Lipschitz-margin training at l2 radius `eps`, for `AdversarialModel`."""

    bound: str = "lipschitz-margin"
    norm: str = "l2"

    @property
    def final_kappa(self) -> float:
        return 0.0 if self.kappa_end is None else self.kappa_end

    def bounds_for(self, classifier: keras.Model) -> TrainableLipschitz:
        from kerobust.bounds.lipschitz.trainable_lipschitz import TrainableLipschitz

        return TrainableLipschitz(classifier)

    def certified_loss(  # type: ignore[override]  # takes the bound of its own `bounds_for`, not IBP's or CROWN's
        self, bounds: TrainableLipschitz, x: Tensor, y: Tensor, y_pred: Tensor, sample_weight: Tensor | None,
        step: int | Tensor,
    ) -> Tensor:
        """(1 - kappa) (CE(z + eps K_y. (1 - e_y), y) - CE(z, y)), advancing the power iteration one step."""
        done = self.progress(step)
        kappa = 1.0 + (self.final_kappa - 1.0) * done
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        lipschitz = bounds.lipschitz(iterations=1)
        head = bounds.head.value
        distances = pair_distances(None if head is None else head.kernel, labels, y_pred)
        others = 1.0 - ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        worst = y_pred + self.eps * done * lipschitz * distances * others
        return verified_term(worst, labels, y_pred, sample_weight, kappa)

    def describe(self) -> str:
        return (f"lipschitz-margin training at l2 eps {self.eps:g} (warm-up {self.warmup_steps} steps, ramp "
                f"{self.ramp_steps} steps, kappa 1 -> {self.final_kappa:g})")
