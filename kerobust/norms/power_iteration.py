"""The l2 operator norm of any layer's linear part by power iteration on the layer itself (autograd power method).

Reference: Virmaux & Scaman 2018, "Lipschitz regularity of deep neural networks: analysis and efficient estimation",
Algorithm 2 (AutoGrad power method): v <- grad_v 1/2 ||f(v) - f(0)||^2 = A^T A v, normalised, until the change is
below a tolerance; sigma = ||A v||. It sees the true operator, so it is exact (to the tolerance) for any stride,
padding and dilation, unlike the FFT spectrum, which is for stride-1 circular convolutions.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.types import Array


def without_activation(layer: keras.layers.Layer, input_shape: Sequence[int]) -> keras.layers.Layer:
    """`layer`, or for a layer with a fused non-linear `activation` (Conv2D(..., activation="relu")) a copy with the
    same weights and a linear activation: the operator whose norm Liang & Huang (2021),
    "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", measure."""
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return layer
    config = layer.get_config()
    config["activation"] = "linear"
    copy = layer.__class__.from_config(config)
    copy.build((None, *input_shape))
    copy.set_weights(layer.get_weights())
    return copy


def linear_part(layer: keras.layers.Layer, input_shape: Sequence[int]) -> keras.Model:
    """A model computing `layer(x) - layer(0)` without the layer's own activation: its linear map when it is affine
    (Conv2D, Dense, batch norm at inference)."""
    layer = without_activation(layer, input_shape)
    inputs = keras.Input(tuple(input_shape))
    return keras.Model(inputs, layer(inputs) - layer(ops.zeros_like(inputs)))


def _half_squared_norm(y, outputs, per_sample=False):
    values = 0.5 * ops.sum(ops.square(outputs), axis=tuple(range(1, len(outputs.shape))))
    return values if per_sample else ops.sum(values)


def power_iteration(layer: keras.layers.Layer, input_shape: Sequence[int], iterations: int = 500,
                    tolerance: float = 1e-8, seed: int = 0) -> tuple[float, Array]:
    """`(sigma, v)`: the largest singular value of `layer`'s linear part on inputs of `input_shape` (without the
    batch axis) and its right singular vector, after at most `iterations` steps or once `v` moves less than
    `tolerance` (l2) in a step. Note: TensorFlow 2.21's oneDNN CPU convolution returns wrong values for some
    unequal strides (e.g. (1, 3)); the result is only as right as the layer's own computation."""
    model = linear_part(layer, input_shape)

    def iterate(oracle, v, y, seed):
        def cond(k, v, change):
            return ops.logical_and(k < iterations, change > tolerance)

        def body(k, v, change):
            w = oracle.gradient(v, y)
            w = w / ops.maximum(ops.sqrt(ops.sum(ops.square(w))), 1e-30)
            return k + 1, w, ops.sqrt(ops.sum(ops.square(w - v)))

        return ops.while_loop(cond, body, (0, v, ops.convert_to_tensor(np.inf, "float32")))[1]

    start = np.random.default_rng(seed).normal(size=(1, *input_shape)).astype("float32")
    start /= np.linalg.norm(start)
    run = backend.compile_attack(model, iterate, _half_squared_norm, per_point=False)  # one vector, not points
    v = np.asarray(run(start, np.zeros(1, "int32"), np.zeros(2, "int32")))
    sigma = float(np.linalg.norm(np.asarray(model(v)))  # type: ignore[operator]  # numpy's stubs lose max()'s type
                  / max(np.linalg.norm(v), 1e-30))
    return sigma, v[0]
