"""Base of the training methods: how a training batch is made from a clean one."""

import dataclasses

from kerobust.attacks.losses import cross_entropy


@dataclasses.dataclass(frozen=True)
class TrainingMethod:
    """A rule that turns a clean batch into the batch the optimizer trains on.

    `kind == "attack"`: `training_batch(oracle, x, y, sample_weight, seed)` returns the training batch, built with
    input gradients of the model in inference mode; one optimizer step follows. Methods that return a batch of the
    same size keep its row order (so `MixedBatches` can mix it with the clean batch).
    `kind == "replay"`: the batch is replayed with a persistent perturbation (free training); see `FreeTraining`.

    Args:
        seed: seed of the method's random starts (combined with the optimizer's step counter).
    """

    seed: int = 0

    kind = "attack"
    name = "method"

    @property
    def loss_fn(self):
        """The loss the method's attack maximises (cross-entropy on the model's logits)."""
        return cross_entropy(from_logits=True)

    def training_batch(self, oracle, x, y, sample_weight, seed):
        raise NotImplementedError

    def describe(self):
        return self.name
