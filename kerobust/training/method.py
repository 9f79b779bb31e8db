"""Base of the training methods: how a training batch is made from a clean one."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kerobust import backend
from kerobust.attacks.losses import cross_entropy
from kerobust.types import LossFn, Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle


@dataclasses.dataclass(frozen=True)
class TrainingMethod:
    """A rule that turns a clean batch into the batch the optimizer trains on.

    `kind == "attack"`: `training_batch(oracle, x, y, sample_weight, seed, step)` returns the training batch, built
    with input gradients of the model in inference mode, at optimizer step `step` (the certified methods' eps ramp
    reads it); one optimizer step follows. Methods that return a batch of the
    same size keep its row order (so `MixedBatches` can mix it with the clean batch).
    `kind == "replay"`: the batch is replayed with a persistent perturbation (free training); see `FreeTraining`.

    Args:
        seed: seed of the method's random starts (combined with the optimizer's step counter).
    """

    seed: int = 0

    kind = "attack"
    name = "method"

    @property
    def loss_fn(self) -> LossFn:
        """The loss the method's attack maximises (cross-entropy on the model's logits)."""
        return cross_entropy(from_logits=True)

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def replica_share(term: Tensor) -> Tensor:
    """A loss term a method adds to Keras's compiled loss, divided as Keras divides that loss under `tf.distribute`
    (by the replica count, so that the replicas' summed gradients average); unchanged elsewhere."""
    replicas = backend.replicas_in_sync()
    return term if replicas == 1 else term / replicas
