"""Clean and robust validation accuracy at the end of every epoch, added to the epoch logs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerobust.attacks import Attack, AttackSuite
from kerobust.callbacks.classifier_of import classifier_of
from kerobust.evaluation.robust_accuracy import evaluate_robustness
from kerobust.types import ArrayLike


def short_name(description: str) -> str:
    """An attack's name from its description, as logs and dashboards key it: `PGD-20 linf eps=0.2` -> `pgd-20`."""
    return description.split()[0].lower()


def attack_log_key(attack: Attack | AttackSuite) -> str:
    """The epoch-log key of an attack's validation accuracy: `val_pgd-20_accuracy`, `val_fgsm_accuracy`."""
    return f"val_{short_name(attack.describe())}_accuracy"


class RobustValidation(keras.callbacks.Callback):
    """Adds `val_clean_accuracy`, `val_robust_accuracy` (under the first attack) and one `val_<attack>_accuracy` per
    attack (`attack_log_key`) to the logs of each epoch.

    Place it before `TensorBoard`, dashboard and checkpoint callbacks so they record the values.

    It evaluates the fitted model's classifier (`AdversarialModel.classifier`; any other model itself) in inference
    mode.

    Args:
        x_val, y_val: validation data.
        attack: a `kerobust.attacks.Attack` (the one early stopping and the tuner read), or a list of them (the first
            is that one).
        max_points: evaluate on the first `max_points` validation points (robust validation is costly).
        batch_size: evaluation batch size.
    """

    def __init__(self, x_val: ArrayLike, y_val: ArrayLike, attack: Attack | list[Attack] | tuple[Attack, ...],
                 max_points: int = 512, batch_size: int = 256):
        super().__init__()
        self.x_val = np.asarray(x_val)[:max_points]
        self.y_val = np.asarray(y_val)[:max_points]
        self.attacks = list(attack) if isinstance(attack, (list, tuple)) else [attack]
        self.batch_size = batch_size

    @property
    def attack(self) -> Attack:
        return self.attacks[0]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        result = evaluate_robustness(
            classifier_of(self.model), self.x_val, self.y_val, self.attacks, batch_size=self.batch_size, seed=epoch,
            progress=False,
        )
        if logs is not None:
            logs["val_clean_accuracy"] = result.clean_top1
            logs["val_robust_accuracy"] = result.attacks[0].top1
            for attack, accuracy in zip(self.attacks, result.attacks):
                logs[attack_log_key(attack)] = accuracy.top1
