"""A classifier's inference-mode outputs as NumPy, on one device or, inside `kerobust.sharding.sharding_points`,
over the devices (a compiled call whose batch is split over them)."""

from __future__ import annotations

import weakref

import keras
import numpy as np

from kerobust import backend
from kerobust.sharding import point_sharding
from kerobust.types import Array, ArrayLike

# model -> its compiled, sharded inference call
_SHARDED_PREDICTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict(model: keras.Model, x: ArrayLike) -> Array:
    """The model's outputs in inference mode, as NumPy; over the devices inside
    `kerobust.sharding.sharding_points`."""
    if point_sharding() is None:
        return keras.ops.convert_to_numpy(model(x, training=False))
    if model not in _SHARDED_PREDICTIONS:
        _SHARDED_PREDICTIONS[model] = backend.compile_predict(model)
    return keras.ops.convert_to_numpy(_SHARDED_PREDICTIONS[model](np.asarray(x)))


def predict_batches(model: keras.Model, x: Array, batch_size: int = 256) -> Array:
    """`predict` over batches of `batch_size` points, concatenated."""
    parts = [predict(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(model.output_shape[1:]), "float32")


RANDOM_OUTPUT_TOLERANCE = 1e-5  # two identical calls differing by more: a randomised model


def output_change(model: keras.Model, x: ArrayLike) -> float:
    """Largest absolute difference between two identical inference calls on `x` (0 for a deterministic model)."""
    return float(np.max(np.abs(predict(model, x) - predict(model, x))))


def is_randomised(model: keras.Model, x: ArrayLike) -> bool:
    """Whether two identical inference calls on `x` differ (noise injection at inference, for example)."""
    return output_change(model, x) > RANDOM_OUTPUT_TOLERANCE
