"""Local response normalisation rules (docs/bounds.md section 2.6), b_a = x_a S_a^-beta,
S_a = k + alpha sum_{l in N(a)} x_l^2 over the channel window N(a) at the same pixel.

Thesis (Peck 2017, Theorem 5.9, Lemmas 5.7, 5.8, 5.11 / summary Theorem 6), in the stable form of docs/bounds.md:
kappa_in = max_{a: delta_a < 0} 2 |delta_a| / (||grad_a|| + sqrt(||grad_a||^2 + 2 M |delta_a|)) with
delta_a = |b_a| - (||b|| + kappa) / sqrt(P) and M = 4 alpha^2 beta (beta + 1) x_max^3 k^(-beta-2) + 6 alpha beta x_max
k^(-beta-1). Not a valid bound (docs/bounds.md section 8, E7).

Sound (derived in docs/bounds.md section 2.6 for alpha > 0, k > 0, 0 < beta <= 1): every Jacobian row and column has
at most w nonzeros (w = 2 floor(n / 2) + 1), bounded by k^-beta on the diagonal and beta k^-beta elsewhere, so
Lip <= k^-beta (1 + beta (w - 1)).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from keras import ops

from kerobust.errors import KerobustError
from kerobust.types import Tensor

if TYPE_CHECKING:
    from kerobust.layers import LocalResponseNormalization


def _window_sum(values: Tensor, radius: int) -> Tensor:
    channels = values.shape[-1]
    padded = ops.pad(values, [(0, 0)] * (len(values.shape) - 1) + [(radius, radius)])
    return sum(padded[..., offset:offset + channels] for offset in range(2 * radius + 1))


def gradient_norms(inputs: Tensor, layer: LocalResponseNormalization) -> Tensor:
    """||grad_x b_a|| for every output a (the thesis's gradient with the channel window explicit), shaped like x."""
    k, alpha, beta = layer.k, layer.alpha, layer.beta
    squares = ops.square(inputs)
    window = _window_sum(squares, layer.radius)
    s = k + alpha * window
    diagonal = ops.power(s, -beta) - 2 * alpha * beta * squares * ops.power(s, -beta - 1)
    off_diagonal = 4 * alpha**2 * beta**2 * squares * ops.power(s, -2 * beta - 2) * (window - squares)
    return ops.sqrt(ops.square(diagonal) + off_diagonal)


def thesis_lrn(kappa: Tensor, inputs: Tensor, layer: LocalResponseNormalization) -> Tensor:
    """Theorem 5.9 per sample. `inputs`: the LRN input x (N, H, W, C); `kappa`: (N,)."""
    k, alpha, beta, radius = layer.k, layer.alpha, layer.beta, layer.radius
    batch = ops.shape(inputs)[0]
    squares = ops.square(inputs)
    window = _window_sum(squares, radius)  # Q_a
    s = k + alpha * window
    b = inputs * ops.power(s, -beta)
    elements = math.prod(inputs.shape[1:])
    flat_b = ops.reshape(b, (batch, elements))
    kappa = ops.reshape(kappa, (-1, 1))
    delta = ops.abs(flat_b) - (ops.sqrt(ops.sum(ops.square(flat_b), axis=1, keepdims=True)) + kappa) / elements**0.5
    gradient_norm = ops.reshape(gradient_norms(inputs, layer), (batch, elements))
    x_max = ops.max(ops.abs(ops.reshape(inputs, (batch, elements))), axis=1, keepdims=True)
    m = 4 * alpha**2 * beta * (beta + 1) * x_max**3 * k ** (-beta - 2) + 6 * alpha * beta * x_max * k ** (-beta - 1)
    magnitude = ops.abs(delta)
    lam = 2 * magnitude / (gradient_norm + ops.sqrt(ops.square(gradient_norm) + 2 * m * magnitude))
    return ops.max(ops.where(delta < 0, lam, -float("inf")), axis=1)


def lrn_lipschitz(layer: LocalResponseNormalization) -> float:
    """k^-beta (1 + beta (w - 1)); needs alpha >= 0, k > 0 and 0 <= beta <= 1."""
    if not (layer.k > 0 and layer.alpha >= 0 and 0 <= layer.beta <= 1):
        raise KerobustError(
            f"layer {layer.name!r}: the sound LRN rule needs k > 0, alpha >= 0 and 0 <= beta <= 1 "
            f"(got k={layer.k}, alpha={layer.alpha}, beta={layer.beta})."
        )
    window = 2 * layer.radius + 1
    return layer.k ** -layer.beta * (1 + layer.beta * (window - 1))
