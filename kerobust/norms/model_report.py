"""Per-layer operator norms of a Keras model: l1, l-inf and an l2 value for every linear layer, with their products.

Rows follow the model's layers in order (nested models included). Conv2D (plain, grouped, with parametric noise: its
mean kernel), Dense and batch normalisation get exact l1 and l-inf norms; l2 is the eq. (3) bound of Liang & Huang
(2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", or with `power_iterations > 0` the exact value
by power iteration on the layer (noise switched off). Other layers with weights (ConvNorm, depthwise convolutions) are
listed as unsupported rather than skipped silently; layers without weights (activations, pooling, kerobust's input
normalisation, whose 1 / std scaling is not counted) are not rows. The products bound the network's Lipschitz constant
in each norm from above for a chain of layers (not across residual sums; Liang & Huang (2021) section 4 discusses how
loose such bounds are).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import keras
from keras import ops

from kerobust.norms.operator_norms import (
    batch_norm_scale, conv_l1_norm, conv_l2_upper_bound, conv_linf_norm, dense_l1_norm, dense_linf_norm,
)
from kerobust.norms.layer_norm import conv_input_size, sublayers
from kerobust.norms.power_iteration import power_iteration


@dataclasses.dataclass
class LayerNorms:
    """Norms of one layer's linear map (None where not supported)."""

    name: str
    kind: str
    l1: float | None
    linf: float | None
    l2: float | None
    l2_method: str
    note: str = ""


def _power_iteration_of_mean_layer(layer, iterations):
    """Power iteration on the layer with its parametric noise (if any) switched off: the mean kernel's operator,
    the same map the other norms measure (noise would make `layer(x) - layer(0)` neither linear nor fixed)."""
    noisy = getattr(layer, "noise_enabled", False)
    if noisy:
        layer.noise_enabled = False
    try:
        return power_iteration(layer, tuple(layer.input.shape[1:]), iterations=iterations)[0]
    finally:
        if noisy:
            layer.noise_enabled = True


def _conv_row(layer, power_iterations):
    size = conv_input_size(layer)
    kernel = ops.convert_to_numpy(layer.kernel)
    geometry = dict(strides=layer.strides, padding=layer.padding, dilation=layer.dilation_rate)
    l1 = conv_l1_norm(kernel, size, groups=layer.groups, **geometry)
    linf = conv_linf_norm(kernel, size, **geometry)
    if power_iterations:
        l2, method = _power_iteration_of_mean_layer(layer, power_iterations), "power"
    else:
        l2, method = conv_l2_upper_bound(kernel, size, **geometry), "eq3 bound"
    return LayerNorms(layer.name, "conv", float(l1), float(linf), None if l2 is None else float(l2), method)


def layer_norms(model: keras.Model, power_iterations: int = 0) -> list[LayerNorms]:
    """`LayerNorms` rows for the model's weighted layers, in order."""
    rows: list[LayerNorms] = []
    for layer in sublayers(model):
        if not layer.weights:
            continue
        if isinstance(layer, keras.layers.Conv2D):
            rows.append(_conv_row(layer, power_iterations))
        elif isinstance(layer, keras.layers.Dense):
            kernel = ops.convert_to_numpy(layer.kernel)
            l2 = float(ops.convert_to_numpy(ops.svd(kernel, compute_uv=False))[0])
            rows.append(LayerNorms(layer.name, "dense", float(dense_l1_norm(kernel)), float(dense_linf_norm(kernel)),
                                   l2, "svd"))
        elif isinstance(layer, keras.layers.BatchNormalization):
            gamma = layer.gamma if layer.scale else ops.ones_like(layer.moving_variance)
            scale = float(ops.max(batch_norm_scale(gamma, layer.moving_variance, layer.epsilon)))
            rows.append(LayerNorms(layer.name, "batch norm", scale, scale, scale, "exact"))
        else:
            rows.append(LayerNorms(layer.name, type(layer).__name__, None, None, None, "-", "unsupported"))
    return rows


def products(rows: Sequence[LayerNorms]) -> dict[str, float]:
    """`{"l1", "linf", "l2"}`: products of the supported layers' norms (upper bounds on the network's Lipschitz
    constant in that norm when every unsupported layer is 1-Lipschitz)."""
    return {key: math.prod(getattr(r, key) for r in rows if getattr(r, key) is not None)
            for key in ("l1", "linf", "l2")}
