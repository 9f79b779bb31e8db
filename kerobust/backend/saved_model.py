"""Reading an exported SavedModel back (TensorFlow is needed to serve one on any backend)."""

from __future__ import annotations

import os

import numpy as np

from kerobust.types import Array, ArrayLike


def saved_model_outputs(path: str | os.PathLike[str], x: ArrayLike, endpoint: str = "serve") -> Array:
    """Runs the SavedModel at `path` on `x` through its serving endpoint and returns NumPy outputs."""
    import tensorflow as tf

    reloaded = tf.saved_model.load(path)
    return np.asarray(getattr(reloaded, endpoint)(tf.constant(np.asarray(x, dtype="float32"))))
