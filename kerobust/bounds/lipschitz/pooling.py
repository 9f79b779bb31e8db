"""Pooling rules (docs/bounds.md section 2.4).

Thesis (Peck 2017, Theorem 5.3 / summary Theorem 4): MAX and average pooling give kappa / t, t the output side
(sqrt(t_h t_w) for non-square outputs), L_p pooling kappa / (t (q_h q_w)^(1/p)); global pooling (t = 1) passes kappa
through.

Sound: kappa / Lip with the pooling's l2 Lipschitz constant. MAX: sqrt(m), m the largest number of windows holding
one input (at most ceil(q_h / s_h) ceil(q_w / s_w)): the squared change of a window's max is at most the sum of its
squared input changes. Average: sqrt(largest column sum), as the averaging matrix has non-negative entries and row
sums 1 (so ||A||_2 <= sqrt(||A||_1 ||A||_inf)); the column sums are read off exactly from the layer (Keras excludes
padded positions from `same` averages). Global average pooling over P positions: 1 / sqrt(P); global max: 1.
L_p with p >= 1: sqrt(m) max(1, (q_h q_w)^(1/p - 1/2)), as a window's p-norm is 1-Lipschitz in its p-norm, which is at
most (q_h q_w)^(1/p - 1/2) times its l2 norm for p < 2 and at most its l2 norm for p >= 2.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerobust import backend
from kerobust.errors import KerobustError
from kerobust.layers import LpPooling2D
from kerobust.types import Tensor


def output_side(layer: keras.layers.Layer) -> float:
    """t = sqrt(t_h t_w) from the layer's actual output size (covers `same` padding)."""
    shape = layer.output.shape
    return math.sqrt(shape[1] * shape[2])


def thesis_pooling(kappa: Tensor, layer: keras.layers.Layer) -> Tensor:
    """Theorem 5.3: kappa / t (MAX and average alike; global pooling has t = 1)."""
    if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)):
        return kappa
    if isinstance(layer, LpPooling2D):
        return kappa / (output_side(layer) * math.prod(layer.pool_size) ** (1.0 / layer.p))
    return kappa / output_side(layer)


def _windows_per_input(layer: keras.layers.Layer) -> int:
    return math.prod(math.ceil(q / s) for q, s in zip(layer.pool_size, layer.strides))


def pooling_lipschitz(layer: keras.layers.Layer) -> float:
    """The l2 Lipschitz constant (an upper bound) of a 2-D pooling layer."""
    if isinstance(layer, keras.layers.GlobalMaxPooling2D):
        return 1.0
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        shape = layer.input.shape
        return 1.0 / math.sqrt(shape[1] * shape[2])
    if isinstance(layer, keras.layers.MaxPooling2D):
        return math.sqrt(_windows_per_input(layer))
    if isinstance(layer, LpPooling2D):
        if layer.p < 1:
            raise KerobustError(f"layer {layer.name!r}: L_p pooling with p = {layer.p} < 1 is not Lipschitz; "
                                f"sound mode needs p >= 1.")
        return math.sqrt(_windows_per_input(layer)) * max(1.0, math.prod(layer.pool_size) ** (1.0 / layer.p - 0.5))
    # Average pooling: column sums of the (linear) layer, from the gradient of the summed output on one channel.
    shape = (1,) + tuple(layer.input.shape[1:3]) + (1,)
    column_sums = backend.gradient(lambda x: ops.sum(layer(x)), ops.ones(shape))
    return math.sqrt(float(ops.max(column_sums)))
