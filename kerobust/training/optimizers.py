"""Optimizers by name (`--optimizer`)."""

import keras

from kerobust.errors import unknown_name

OPTIMIZERS = ("adamw", "adam", "sgd")


def build_optimizer(name, lr, weight_decay=None):
    """AdamW (weight decay 0.01 by default, as PyTorch's AdamW that seed 000 used), Adam, or SGD with Nesterov-free
    momentum 0.9 and decoupled weight decay (5e-4 by default)."""
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=0.01 if weight_decay is None else weight_decay)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, weight_decay=weight_decay or None)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, weight_decay=5e-4 if weight_decay is None else weight_decay)
    raise unknown_name("optimizer", name, OPTIMIZERS)
