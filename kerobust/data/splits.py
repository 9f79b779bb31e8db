"""Validation hold-out: a fixed, stratified share of the training split (O'Hanlon (2021), "Adversarial Robustness
of Convolutional Networks", holds out 10 %)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import train_test_split

from kerobust.types import Array

VALIDATION_SHARE = 0.1
SPLIT_SEED = 0


def hold_out_validation(x: Array, y: Array, share: float = VALIDATION_SHARE,
                        seed: int = SPLIT_SEED) -> tuple[Array, Array, Array, Array]:
    """Returns `(x_train, y_train, x_val, y_val)` with `share` of the data (at least one point) held out, stratified
    by label where every class has the two members that needs."""
    counts = np.bincount(y)
    held_out = math.ceil(share * len(y))  # as scikit-learn rounds a float test_size
    stratifiable = counts[counts > 0].min() >= 2 and held_out >= np.count_nonzero(counts)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=share if stratifiable else max(1, held_out), random_state=seed,
        stratify=y if stratifiable else None,
    )
    return x_train, y_train, x_val, y_val
