"""Clean and robust validation accuracy at the end of every epoch, added to the epoch logs."""

import keras
import numpy as np

from kerobust.callbacks.classifier_of import classifier_of
from kerobust.evaluation.robust_accuracy import evaluate_robustness


class RobustValidation(keras.callbacks.Callback):
    """Adds `val_clean_accuracy` and `val_robust_accuracy` (under `attack`) to the logs of each epoch.

    Place it before `TensorBoard` and checkpoint callbacks so they record the values.

    It evaluates the fitted model's classifier (`AdversarialModel.classifier`; any other model itself) in inference
    mode.

    Args:
        x_val, y_val: validation data.
        attack: a `kerobust.attacks.Attack`.
        max_points: evaluate on the first `max_points` validation points (robust validation is costly).
        batch_size: evaluation batch size.
    """

    def __init__(self, x_val, y_val, attack, max_points=512, batch_size=256):
        super().__init__()
        self.x_val = np.asarray(x_val)[:max_points]
        self.y_val = np.asarray(y_val)[:max_points]
        self.attack = attack
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        result = evaluate_robustness(
            classifier_of(self.model), self.x_val, self.y_val, [self.attack], batch_size=self.batch_size, seed=epoch, progress=False
        )
        if logs is not None:
            logs["val_clean_accuracy"] = result.clean_top1
            logs["val_robust_accuracy"] = result.attacks[0].top1
