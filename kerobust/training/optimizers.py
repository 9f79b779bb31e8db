"""Optimizers by name (`--optimizer`)."""

from __future__ import annotations

import keras

from kerobust.catalog import OPTIMIZERS
from kerobust.errors import unknown_name


# Variables that weight decay must leave alone: parametric noise scales (Rakin et al. 2018, section 3.3).
NO_WEIGHT_DECAY = ("noise_scale",)


def build_optimizer(name: str, lr: float | keras.optimizers.schedules.LearningRateSchedule,
                    weight_decay: float | None = None) -> keras.optimizers.Optimizer:
    """AdamW (weight decay 0.01 by default, as PyTorch's AdamW that O'Hanlon (2021), "Adversarial Robustness of
    Convolutional Networks", used), Adam, or SGD with Nesterov-free momentum 0.9 and decoupled weight decay (5e-4 by
    default). Noise scales are never decayed."""
    if name == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=lr,
                                           weight_decay=0.01 if weight_decay is None else weight_decay)
    elif name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=lr, weight_decay=weight_decay or None)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(
            learning_rate=lr, momentum=0.9, weight_decay=5e-4 if weight_decay is None else weight_decay
        )
    else:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
