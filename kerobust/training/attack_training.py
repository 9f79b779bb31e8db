"""Adversarial training on examples of a given attack: FGSM training and PGD (Madry) training."""

import dataclasses

from kerobust.attacks.attack import Attack
from kerobust.training.method import TrainingMethod


@dataclasses.dataclass(frozen=True)
class AttackTraining(TrainingMethod):
    """Trains on `attack`'s adversarial examples of each batch (the inner maximisation of the saddle point problem).

    With a PGD attack this is Madry et al. 2018 ("Towards Deep Learning Models Resistant to Adversarial Attacks",
    eq. (2.1)); with FGSM and a random start it is Wong et al. 2020 ("Fast is better than free", Algorithm 3).
    """

    attack: Attack | None = None

    @property
    def name(self):
        return self.attack.name.lower()

    @property
    def loss_fn(self):
        return self.attack.loss_fn(from_logits=True)

    def training_batch(self, oracle, x, y, sample_weight, seed):
        return self.attack.perturb(oracle, x, y, seed), y, sample_weight

    def describe(self):
        return f"{self.name} training ({self.attack.describe()})"
