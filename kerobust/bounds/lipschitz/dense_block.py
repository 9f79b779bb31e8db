"""Fully-connected block rule (docs/bounds.md section 2.2): a run of Dense layers (with their activations) before
the output layer.

Thesis (Peck 2017, Theorems 4.2 and 4.4, Algorithm 4.1 / summary Theorem 1), in the stable form
kappa_in = 2 kappa / (||J(x)|| + sqrt(||J(x)||^2 + 2 M sqrt(n) kappa)), n the block's output width, J its Jacobian at
the clean input (exact spectral norm), and M from Algorithm 4.1: M_i = B_i N_{i-1}^2 s_i^2 + A_i M_{i-1} s_i,
N_i = A_i N_{i-1} s_i with s_i the largest absolute row sum of V_i (Keras kernel: max over outputs of the column
abs-sum). With ReLU (B := 1) or the Taylor factor this is not a valid bound (docs/bounds.md section 8, E2 and E3).

Sound: kappa / prod_i A_i ||V_i||_2 (the spectral norms of the kernels), one factor per layer in `dense_lipschitz`.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from kerobust.bounds.lipschitz.activations import activation_name, derivative, lipschitz, thesis_constants
from kerobust.types import Array, Tensor


def second_derivative_bound(layers: Sequence[keras.layers.Dense]) -> float:
    """Algorithm 4.1: M for the Dense `layers` (input side first)."""
    m, n = 0.0, 1.0
    for layer in layers:
        a, b = thesis_constants(activation_name(layer.activation))
        s = float(np.max(np.sum(np.abs(ops.convert_to_numpy(layer.kernel)), axis=0)))
        m, n = b * n**2 * s**2 + a * m * s, a * n * s
    return m


def jacobian_norm(inputs: Tensor, layers: Sequence[keras.layers.Dense]) -> Tensor:
    """Per-sample spectral norm of the block's Jacobian at `inputs` (N, d_in): J = D_L V_L ... D_1 V_1."""
    x = inputs
    jacobian = None  # (N, d_in, width): x -> current pre-activation, in Keras (row-vector) orientation
    for layer in layers:
        pre = ops.matmul(x, layer.kernel) + (layer.bias if layer.use_bias else 0.0)
        name = activation_name(layer.activation)
        step = layer.kernel[None] if jacobian is None else ops.matmul(jacobian, layer.kernel)
        jacobian = step * derivative(name, pre)[:, None, :]
        x = layer.activation(pre) if layer.activation is not None else pre
    d_in, width = jacobian.shape[1], jacobian.shape[2]  # type: ignore[union-attr]  # layers is never empty
    gram = ops.matmul(ops.transpose(jacobian, (0, 2, 1)), jacobian) if width <= d_in else \
        ops.matmul(jacobian, ops.transpose(jacobian, (0, 2, 1)))
    # One eigendecomposition per point (ops.map), not one batched call: jaxlib's batched LAPACK kernel waits on the
    # XLA CPU thread pool from inside it, which deadlocks when every pool thread runs a device's shard (data-parallel
    # over host devices, as many as the cores). Same values, 10-25 % slower on 2 CPU cores.
    return ops.sqrt(ops.maximum(ops.map(lambda g: ops.max(ops.eigh(g)[0]), gram), 0.0))


def thesis_dense_block(kappa: Tensor, inputs: Tensor, layers: Sequence[keras.layers.Dense], m: float) -> Tensor:
    """Theorem 4.2 per sample: `inputs` (N, d_in) is the block input (flattened), `kappa` (N,), `m` Algorithm 4.1's
    bound (`second_derivative_bound(layers)`, computed once per model)."""
    sigma = jacobian_norm(inputs, layers)
    width = layers[-1].kernel.shape[1]
    return 2 * kappa / (sigma + ops.sqrt(ops.square(sigma) + 2 * m * width**0.5 * kappa))


def dense_lipschitz(layer: keras.layers.Dense, kernel: Array | None = None) -> float:
    """A ||V||_2 for one Dense layer with its activation (its own kernel V, or a replacement of the same shape)."""
    kernel = np.asarray(ops.convert_to_numpy(layer.kernel) if kernel is None else kernel, dtype="float64")
    return lipschitz(activation_name(layer.activation)) * float(np.linalg.norm(kernel, 2))
