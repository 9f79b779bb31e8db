"""Natural (non-adversarial) training."""

import dataclasses

from kerobust.training.method import TrainingMethod


@dataclasses.dataclass(frozen=True)
class NaturalTraining(TrainingMethod):
    """Trains on the clean batch: the baseline every robust method is compared with."""

    name = "natural"

    def training_batch(self, oracle, x, y, sample_weight, seed):
        return x, y, sample_weight
