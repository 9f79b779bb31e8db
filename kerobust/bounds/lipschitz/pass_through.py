"""Layers the bound passes through unchanged or rescaled (docs/bounds.md section 2.7), in both modes.

Flatten, Reshape, Dropout and other inference-time identities, ZeroPadding (an isometric embedding): kappa.
A standalone activation: kappa / A (A = sup |g'|, 1 for ReLU and tanh); Peck's (2017) thesis keeps kappa, valid for
A <= 1.
Input normalisation (x - mean) / std and Rescaling(s): kappa / max |1 / std| and kappa / |s|, so bounds are in the
units of the model's input (kerobust models take [0, 1] pixels).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerobust.bounds.lipschitz.activations import activation_name, lipschitz

IDENTITY_LAYERS = (
    keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout,
    keras.layers.SpatialDropout2D, keras.layers.GaussianDropout, keras.layers.GaussianNoise,
    keras.layers.AlphaDropout, keras.layers.ZeroPadding2D, keras.layers.Identity, keras.layers.ActivityRegularization,
)
ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)
SCALING_LAYERS = (keras.layers.Normalization, keras.layers.Rescaling)


def standalone_activation_lipschitz(layer: keras.layers.Layer) -> float:
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None and layer.max_value <= 0:
            return 0.0
        return max(1.0, abs(float(layer.negative_slope)))
    if isinstance(layer, keras.layers.LeakyReLU):
        return max(1.0, abs(float(layer.negative_slope)))
    if isinstance(layer, keras.layers.ELU):
        return max(1.0, float(layer.alpha))
    return lipschitz(activation_name(layer.activation))


def scaling_lipschitz(layer: keras.layers.Normalization | keras.layers.Rescaling) -> float:
    """max |d output / d input| of an input normalisation or rescaling (both diagonal)."""
    if isinstance(layer, keras.layers.Normalization):
        std = np.sqrt(np.asarray(ops.convert_to_numpy(layer.variance), dtype="float64"))
        return float(np.max(1.0 / np.maximum(std, keras.backend.epsilon())))
    return float(np.max(np.abs(np.asarray(layer.scale, dtype="float64"))))
