"""Adversarial training: `AdversarialModel` and its training methods."""

from kerobust.training.adversarial_model import AdversarialModel
from kerobust.training.attack_training import AttackTraining
from kerobust.training.certified import CertifiedTraining
from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining
from kerobust.training.free import FreeTraining
from kerobust.training.method import TrainingMethod
from kerobust.training.mixed_batches import MixedBatches
from kerobust.training.mixed_norm import MixedNormTraining
from kerobust.training.natural import NaturalTraining
from kerobust.training.registry import TRAINING_METHODS, build_training_method

__all__ = [
    "AdversarialModel", "AttackTraining", "CertifiedTraining", "CleanAndAdversarialTraining", "FreeTraining", "MixedBatches", "MixedNormTraining",
    "NaturalTraining",
    "TRAINING_METHODS", "TrainingMethod", "build_training_method",
]
