"""Box arithmetic of interval bound propagation (IBP); the rule of each layer type is in `kerobust.bounds.rules`.

Reference: Gowal et al. 2018, "On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust
Models", eqs. (5)-(6): an affine layer maps the box (centre m, radius r) to (W m + b, |W| r); a monotone elementwise
function maps [l, u] to [h(l), h(u)]. The last Dense layer is folded into the margin (their "elision": the row
w_y - w_c is applied to the box of the layer's input, which is tighter than bounding the logits first). An l2 ball is
relaxed to the box of half-width eps around x, which contains it (sound, and loose; CROWN is the tighter method).

Boxes travel as (centre, radius), not (lower, upper), and a non-linear layer keeps a zero radius exactly zero: XLA
rounds h(c + 0) and h(c - 0) differently (3e-8 after the input normalisation), and |W| amplifies such an error layer
after layer, to 1e7 over a randomly initialised ResNet-20.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from kerobust.attacks.lp_geometry import NORMS
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import Tensor

# Elementwise activations that are non-decreasing, so [l, u] maps to [h(l), h(u)].
MONOTONE = ("linear", "relu", "relu6", "sigmoid", "tanh", "softplus", "elu", "leaky_relu", "softsign", "hard_sigmoid")


def monotone_box(function: Callable[[Tensor], Tensor], centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    """(centre, radius) of the box [h(c - r), h(c + r)] for h non-decreasing in every input (elementwise, or max
    pooling); where the radius of every input it reads is 0, exactly (h(c), 0): a compiler may round h(c + 0) and
    h(c - 0) differently."""
    lower, upper = function(centre - radius), function(centre + radius)
    if tuple(lower.shape) == tuple(radius.shape):
        flat = radius <= 0
    else:  # max pooling: the largest radius of each window
        flat = function(radius) <= 0
    return ops.where(flat, function(centre), (upper + lower) / 2), ops.where(flat, 0.0, (upper - lower) / 2)


def linear_box(layer: keras.layers.Layer, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    """`(L c, L r)` for a layer L that is linear with non-negative weights and no offset (an identity, a reshaping,
    average pooling, nearest upsampling): it maps a radius to a radius as it is."""
    return layer(centre, training=False), layer(radius, training=False)


def activate(name: str, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    if name not in MONOTONE:
        raise KerobustError(f"interval bounds need a non-decreasing activation, not {name!r}.")
    if name == "linear":
        return centre, radius
    return monotone_box(keras.activations.get(name), centre, radius)


def _apply_kernel(layer, x, kernel):
    """The linear part of a Dense, Conv2D or DepthwiseConv2D layer (channels last) with `kernel` in place of its own."""
    if isinstance(layer, keras.layers.Dense):
        return ops.matmul(x, kernel)
    options = dict(strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return ops.depthwise_conv(x, kernel, **options)
    return ops.conv(x, kernel, **options)


def affine_map(layer: keras.layers.Layer, x: Tensor) -> Tensor:
    """`W x + b`: the affine part of a Dense, Conv2D or DepthwiseConv2D layer, without its activation."""
    out = _apply_kernel(layer, x, layer.kernel)
    return out + layer.bias if layer.use_bias else out


def affine_box(layer: keras.layers.Layer, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    """`(W m + b, |W| r)` for the affine part of a Dense, Conv2D or DepthwiseConv2D layer (channels last)."""
    return affine_map(layer, centre), _apply_kernel(layer, radius, ops.abs(layer.kernel))


def batch_norm_box(layer: keras.layers.BatchNormalization, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    """Inference batch norm y = g x + c, per channel."""
    scale = layer.gamma if layer.scale else 1.0
    scale = scale / ops.sqrt(layer.moving_variance + layer.epsilon)
    shift = (layer.beta if layer.center else 0.0) - layer.moving_mean * scale
    return centre * scale + shift, radius * ops.abs(scale)


def input_box(x: Tensor, eps: float | Tensor, norm: str) -> tuple[Tensor, Tensor]:
    """(centre, radius) of [max(0, x - eps), min(1, x + eps)]: the l-inf ball in the input box, or a box containing
    the l2 ball."""
    if norm not in NORMS:
        raise unknown_name("threat norm", norm, NORMS)
    lower, upper = ops.maximum(x - eps, 0.0), ops.minimum(x + eps, 1.0)
    return (upper + lower) / 2, (upper - lower) / 2


def margin_gaps(centre: Tensor, radius: Tensor, y: Tensor, head: keras.layers.Dense | None = None) -> Tensor:
    """(N, C) lower bounds on z_y - z_c over the box (centre, radius) of the head's input (elision), or of the logits
    themselves when there is no Dense head; column y is 0."""
    if head is None:
        onehot = ops.one_hot(y, centre.shape[-1], dtype=centre.dtype)
        true_lower = ops.sum((centre - radius) * onehot, axis=-1, keepdims=True)
        gaps = true_lower - (centre + radius)
    else:
        kernel = ops.convert_to_tensor(head.kernel)
        classes = kernel.shape[-1]
        onehot = ops.one_hot(y, classes, dtype=kernel.dtype)
        rows = ops.matmul(onehot, ops.transpose(kernel))[:, :, None] - kernel[None, :, :]  # (N, d, C): w_y - w_c
        gaps = ops.einsum("nd,ndc->nc", centre, rows) - ops.einsum("nd,ndc->nc", radius, ops.abs(rows))
        if head.use_bias:
            bias = ops.convert_to_tensor(head.bias)
            gaps = gaps + ops.sum(bias * onehot, axis=-1, keepdims=True) - bias
    return ops.where(onehot > 0, 0.0, gaps)


def worst_margin(gaps: Tensor, y: Tensor) -> Tensor:
    """min over c != y of the (N, C) margin bounds `gaps`."""
    onehot = ops.one_hot(y, gaps.shape[-1], dtype=gaps.dtype)
    return ops.min(ops.where(onehot > 0, float("inf"), gaps), axis=-1)
