"""Reading an exported SavedModel back (TensorFlow is needed to serve one on any backend)."""

import numpy as np


def saved_model_outputs(path, x, endpoint="serve"):
    """Runs the SavedModel at `path` on `x` through its serving endpoint and returns NumPy outputs."""
    import tensorflow as tf

    reloaded = tf.saved_model.load(path)
    return np.asarray(getattr(reloaded, endpoint)(tf.constant(np.asarray(x, dtype="float32"))))
