"""Training on the clean batch and its adversarial copy together: the base of the paired-loss methods (TRADES, ALP,
MART) and, as it is, the recipe of parametric noise injection.

PNI: Rakin, He & Fan 2018, "Parametric Noise Injection", eq. (5): loss = 0.5 CE(f(x), y) + 0.5 CE(f(x'), y), where the
PGD example x' attacks the model's own clean prediction (not the label), avoiding label leaking (Kurakin et al. 2017);
Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification" (the BIPARO report), section 3.2.2.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from keras import ops

from kerobust.training.attack_training import AttackTraining
from kerobust.training.method import replica_share
from kerobust.types import Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle

def batch_mean(values: Tensor, sample_weight: Tensor | None) -> Tensor:
    """The per-example `values` averaged over the batch, weighted as Keras's losses weigh (sum of w v over the batch
    size)."""
    if sample_weight is None:
        return ops.mean(values)
    return ops.mean(values * ops.cast(ops.reshape(sample_weight, (-1,)), values.dtype))


@dataclasses.dataclass(frozen=True)
class CleanAndAdversarialTraining(AttackTraining):
    """Trains on the clean batch and its adversarial copy, concatenated into one batch of twice the size.

    The two halves go through the model together (so batch norm sees both at once, and a noise layer draws one noise
    sample for the step); the references run two forward passes. The training loss is Keras's compiled loss on the
    half `natural_loss_on` names plus the method's `pair_term` of the two halves' logits (`paired_loss`).

    As it is, this class is PNI's recipe: Keras's loss on both halves (0.5 clean + 0.5 adversarial) and no pair term,
    with x' attacking the clean prediction.
    """

    name = "pni"
    natural_loss_on = "both"  # the half Keras's compiled loss covers: "clean", "adversarial" or "both"

    def adversarial_examples(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Seed) -> Tensor:
        """The adversarial copy of `x` (PNI: the attack on the model's predicted labels)."""
        predicted = ops.cast(ops.argmax(oracle.logits(x), axis=-1), y.dtype)
        return self.attack.perturb(oracle, x, predicted, seed)

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        x_adv = self.adversarial_examples(oracle, x, y, seed)
        if sample_weight is not None:
            sample_weight = ops.concatenate([sample_weight, sample_weight], axis=0)
        return ops.concatenate([x, x_adv], axis=0), ops.concatenate([y, y], axis=0), sample_weight

    def pair_term(self, y: Tensor, clean_logits: Tensor, adversarial_logits: Tensor,
                  sample_weight: Tensor | None) -> Tensor | None:
        """The method's term of the two halves' logits, added to Keras's loss (None: no term)."""
        return None

    def paired_loss(self, keras_loss: Callable[..., Tensor], x: Tensor, y: Tensor, y_pred: Tensor,
                    sample_weight: Tensor | None) -> Tensor:
        """The training loss of a batch from `training_batch`: `keras_loss` (Keras's compiled loss plus the model's
        added losses) on the half `natural_loss_on` names, plus `pair_term`.

        Args:
            keras_loss: `keras.Model.compute_loss` of the model, called once (so its added losses count once).
            x, y, y_pred, sample_weight: the concatenated batch, its labels, its logits and its weights.
        """
        n = ops.shape(y)[0] // 2
        part = {"clean": slice(None, n), "adversarial": slice(n, None), "both": slice(None)}[self.natural_loss_on]
        weights = None if sample_weight is None else sample_weight[part]
        loss = keras_loss(x=x[part], y=y[part], y_pred=y_pred[part], sample_weight=weights, training=True)
        term = self.pair_term(y[:n], y_pred[:n], y_pred[n:], None if sample_weight is None else sample_weight[:n])
        return loss if term is None else loss + replica_share(term)

    def describe(self) -> str:
        return f"clean + adversarial training, 1:1 (PNI recipe; {self.attack.describe()} on predicted labels)"
