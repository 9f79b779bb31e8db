"""Batch normalisation rules (docs/bounds.md section 2.5), inference form y = g (x - E) + beta, g = gamma / sigma.

Thesis (Peck 2017, Theorem 5.6, Lemmas 5.4-5.5 / summary Theorem 5), in the closed form of docs/bounds.md:
kappa_in = max_j psi / (|g_j| (|y_j| + sqrt(y_j^2 + psi))), psi = (2 kappa ||y|| + kappa^2) / d over the d elements,
j with g_j = 0 left out. Not a valid bound (docs/bounds.md section 8, E6: Lemma 5.4 only gives the inequality for
some j).

Sound: BN is affine and diagonal, so kappa_in = kappa / max_j |g_j|.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerobust.types import Tensor


def scale_of(layer: keras.layers.BatchNormalization) -> Tensor:
    """Per-channel g = gamma / sqrt(moving_variance + epsilon)."""
    gamma = layer.gamma if layer.scale else ops.ones_like(layer.moving_variance)
    return gamma / ops.sqrt(layer.moving_variance + layer.epsilon)


def thesis_batch_norm(kappa: Tensor, outputs: Tensor, layer: keras.layers.BatchNormalization) -> Tensor:
    """Theorem 5.6 per sample. `outputs`: the layer's output y (N, ...); `kappa`: (N,)."""
    g = scale_of(layer)
    d = math.prod(outputs.shape[1:])
    y = ops.reshape(outputs, (ops.shape(outputs)[0], d))
    g = ops.reshape(ops.broadcast_to(g, outputs.shape[1:]), (1, d))
    kappa = ops.reshape(kappa, (-1, 1))
    psi = (2.0 * kappa * ops.sqrt(ops.sum(ops.square(y), axis=1, keepdims=True)) + ops.square(kappa)) / d
    denominator = ops.abs(g) * (ops.abs(y) + ops.sqrt(ops.square(y) + psi))
    delta = ops.where(ops.abs(g) > 0, psi / ops.where(denominator > 0, denominator, 1.0), -float("inf"))
    return ops.max(delta, axis=1)


def batch_norm_lipschitz(layer: keras.layers.BatchNormalization) -> float:
    """max_j |g_j|."""
    return float(ops.max(ops.abs(scale_of(layer))))
