"""The first layer of every kerobust model: per-channel (x - mean) / std, so models take [0, 1] pixels."""

import keras
import numpy as np


def input_normalization(mean, std):
    """A `keras.layers.Normalization` with fixed statistics (saved with the model, exported with it)."""
    mean = np.asarray(mean, dtype="float32")
    variance = np.square(np.asarray(std, dtype="float32"))
    return keras.layers.Normalization(mean=mean, variance=variance, name="input_normalization")
