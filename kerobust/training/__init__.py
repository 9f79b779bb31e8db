"""Adversarial training: `AdversarialModel` and its training methods.

The names load on first use (PEP 562), so that `kerobust.training.method_rules` is read without importing Keras.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "AdversarialModel": "adversarial_model", "AttackTraining": "attack_training", "CertifiedTraining": "certified",
    "CleanAndAdversarialTraining": "clean_and_adversarial", "FreeTraining": "free", "TrainingMethod": "method",
    "MixedBatches": "mixed_batches", "MixedNormTraining": "mixed_norm", "NaturalTraining": "natural",
    "TRAINING_METHODS": "registry", "build_training_method": "registry", "TradesTraining": "trades",
    "LogitPairingTraining": "alp", "MartTraining": "mart", "AdversarialWeightPerturbation": "weight_perturbation",
    "SabrTraining": "sabr", "MtlIbpTraining": "mtl_ibp",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
