"""Certified training: the loss of the worst case the bound allows, mixed with the natural loss.

References:
* IBP training, Gowal et al. 2018, eq. (7) and section 4: L = kappa CE(z, y) + (1 - kappa) CE(-m, y), with m the
  lower bounds on z_y - z_c over the eps-ball (the elided IBP margins; column y is 0, so -m acts as the logits of the
  worst case). After `warmup_steps` natural steps, eps grows linearly from 0 to its value over `ramp_steps`
  while kappa falls from 1 to `kappa_end` (0.5 in the paper).
* CROWN-IBP, Zhang et al. 2020, eq. (5) and section 4: m = beta m_CROWN-IBP + (1 - beta) m_IBP, with beta falling
  from 1 to 0 over the same ramp (their beta_start = 1, beta_end = 0), and kappa_end = 0 by default.

The bound reads the model in inference mode (batch norm's moving statistics, no dropout): it bounds the network that
will be certified; the natural term trains in training mode as usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Callable

import keras
from keras import ops

from kerobust.training.method import TrainingMethod, replica_share
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle
    from kerobust.bounds.linear.crown import CrownBounds
    from kerobust.bounds.linear.interval import IntervalBounds

BOUNDS = ("ibp", "crown-ibp")


def verified_term(worst_logits: Tensor, labels: Tensor, y_pred: Tensor, sample_weight: Tensor | None,
                  kappa: float | Tensor) -> Tensor:
    """(1 - kappa) (CE(worst_logits, y) - CE(z, y)), the weighted batch mean: added to Keras's natural loss CE(z, y),
    it gives the mix kappa CE(z, y) + (1 - kappa) CE(worst_logits, y)."""
    verified = keras.losses.sparse_categorical_crossentropy(labels, worst_logits, from_logits=True)
    natural = keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)
    weight = (ops.ones_like(verified) if sample_weight is None
              else ops.cast(ops.reshape(sample_weight, (-1,)), "float32"))
    return (1.0 - kappa) * ops.sum((verified - natural) * weight) / ops.maximum(ops.sum(weight), 1.0)


@dataclasses.dataclass(frozen=True)
class CertifiedTraining(TrainingMethod):
    """IBP or CROWN-IBP training (`bound`), for `AdversarialModel`, which adds `certified_loss` to the loss."""

    bound: str = "ibp"
    eps: float = 0.1
    norm: str = "linf"
    warmup_steps: int = 0
    ramp_steps: int = 1
    kappa_end: float | None = None  # None: 0.5 for IBP (Gowal et al.), 0 for CROWN-IBP (Zhang et al.)
    # lambda of Shi et al.'s (2021) warm-up regularisers (`kerobust.training.fast_ibp`); 0: off.
    warmup_regularizer_weight: float = 0.0

    @property
    def name(self) -> str:  # type: ignore[override]  # the base's class attribute, derived here
        return self.bound

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        return x, y, sample_weight

    @property
    def final_kappa(self) -> float:
        if self.kappa_end is not None:
            return self.kappa_end
        return 0.5 if self.bound == "ibp" else 0.0

    def progress(self, step: int | Tensor) -> Tensor:
        """Share of the ramp done at optimizer step `step` (0 during the warm-up, 1 after the ramp)."""
        done = (ops.cast(step, "float32") - self.warmup_steps) / max(self.ramp_steps, 1)
        return ops.clip(done, 0.0, 1.0)

    def bounds_for(self, classifier: keras.Model) -> IntervalBounds | CrownBounds:
        """The bound this method trains against, built on `classifier` (uncompiled, differentiable)."""
        from kerobust.bounds.linear.crown import CrownBounds
        from kerobust.bounds.linear.interval import IntervalBounds

        if self.bound == "crown-ibp":
            return CrownBounds(classifier, self.norm, intermediate="ibp", jit=False)
        return IntervalBounds(classifier, self.norm, jit=False)

    def certified_loss(self, bounds: IntervalBounds | CrownBounds, x: Tensor, y: Tensor, y_pred: Tensor,
                       sample_weight: Tensor | None, step: int | Tensor) -> Tensor:
        """(1 - kappa) (CE(-m, y) - CE(z, y)): added to the natural loss, it gives Gowal et al.'s mix."""
        done = self.progress(step)
        eps = self.eps * done
        kappa = 1.0 + (self.final_kappa - 1.0) * done
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        if self.bound == "ibp":
            margins, regularization = self.interval_terms(bounds, x, labels, eps, done)
        else:
            # crown-ibp: `bounds_for` built CrownBounds.
            crown, boxes = bounds.margin_bounds_and_boxes(x, labels, eps)  # type: ignore[union-attr]
            beta = 1.0 - done
            margins = beta * crown + (1.0 - beta) * bounds.interval_margins(boxes, labels)  # type: ignore[union-attr]
            regularization = self.regularization(bounds, boxes, done)
        return verified_term(-margins, labels, y_pred, sample_weight, kappa) + regularization

    def interval_terms(self, bounds: IntervalBounds | CrownBounds, centre: Tensor, labels: Tensor,
                       radius: float | Tensor, done: Tensor) -> tuple[Tensor, Tensor | float]:
        """IBP's (N, C) margin bounds over the ball of `radius` around `centre`, and the warm-up regularisation of
        the boxes they come from."""
        from kerobust.bounds.linear.interval import interval_boxes, interval_margins

        boxes = interval_boxes(bounds.graph, centre, radius, self.norm)
        return interval_margins(bounds.graph, boxes, labels), self.regularization(bounds, boxes, done)

    def regularization(self, bounds: IntervalBounds | CrownBounds, boxes: Mapping[str, tuple[Tensor, Tensor]],
                       done: Tensor) -> Tensor | float:
        """Shi et al.'s (2021) warm-up regularisers of IBP's `boxes`, weighted lambda (1 - eps_t / eps); 0 when
        off."""
        if not self.warmup_regularizer_weight:
            return 0.0
        from kerobust.training.fast_ibp import warmup_regularizer

        return self.warmup_regularizer_weight * (1.0 - done) * warmup_regularizer(bounds.graph, boxes)

    def training_loss(self, keras_loss: Callable[..., Tensor], bounds: IntervalBounds | CrownBounds, x: Tensor,
                      y: Tensor, y_pred: Tensor, sample_weight: Tensor | None, step: int | Tensor) -> Tensor:
        """The whole training loss of a batch from `training_batch`: `keras_loss` (Keras's compiled loss plus the
        model's added losses) plus `certified_loss`, divided as Keras's loss is under `tf.distribute`."""
        loss = keras_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        return loss + replica_share(self.certified_loss(bounds, x, y, y_pred, sample_weight, step))

    def describe(self) -> str:
        return (f"{self.bound} training at {self.norm} eps {self.eps:g} (warm-up {self.warmup_steps} steps, ramp "
                f"{self.ramp_steps} steps, kappa 1 -> {self.final_kappa:g}{self.fast_ibp_words()})")

    def fast_ibp_words(self) -> str:
        """`describe`'s mention of Shi et al.'s regularisers, when on."""
        if not self.warmup_regularizer_weight:
            return ""
        return f"; Shi et al.'s warm-up regularisers, lambda {self.warmup_regularizer_weight:g}"
