"""Exact l1 and l-inf operator norms of Conv2D, Dense and batch-norm layers, and the l2 upper bound of
Liang & Huang (2021).

The l1 norm of a linear map is its matrix's largest absolute column sum, the l-inf norm its largest absolute row sum.
For a Conv2D both are sums of |K| over the kernel taps one input (column) or output (row) position sees, maximised
over positions and channels; `kerobust.norms.conv_taps` gives those tap sets, so the result is exact for any kernel,
stride, dilation, padding and input size, with no need for Assumption 1 of Liang & Huang (2021) (where it holds the
formulas agree with Theorem 1, eq. (1) and (2)). Written with `keras.ops`, so the norms are differentiable in the
kernel.

Reference: Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Theorem 1.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from keras import ops

from kerobust.norms.conv_taps import axis_geometry, column_tap_sets, row_tap_sets
from kerobust.types import Tensor


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _axes(input_size, kernel_shape, strides, padding, dilation):
    """Per-axis (size, kernel, stride, padding, dilation) tuples."""
    sizes, strides, dilation = _pair(input_size), _pair(strides), _pair(dilation)
    pads = (padding, padding) if isinstance(padding, str) else tuple(tuple(p) for p in padding)
    return [(sizes[i], kernel_shape[i], strides[i], pads[i], dilation[i]) for i in range(2)]


def _tap_sums(weights, rows, columns):
    """`sum_{a in A, b in B} weights[a, b, c]` for every pair of tap sets (A, B): shape [len(rows), len(columns), C]."""
    return ops.einsum("xa,yb,abc->xyc", ops.convert_to_tensor(rows), ops.convert_to_tensor(columns), weights)


def conv_l1_norm(kernel: Tensor, input_size: int | Sequence[int], strides: int | Sequence[int] = 1,
                 padding: str | Sequence[tuple[int, int]] = "valid", dilation: int | Sequence[int] = 1,
                 groups: int = 1) -> Tensor:
    """||conv||_1 of a Conv2D kernel (kh, kw, Cin / groups, Cout) on an input of `input_size` (H, W): the largest
    absolute column sum, `max_{i, A, B} sum_o sum_{(a, b) in A x B} |K[a, b, i, o]|` over the column tap sets (seed
    001 eq. (1)), where a grouped conv's input channel only reaches the outputs of its group."""
    axes = _axes(input_size, kernel.shape, strides, padding, dilation)
    kh, kw, cin, cout = kernel.shape
    per_group = ops.reshape(ops.abs(kernel), (kh, kw, cin, groups, cout // groups))
    per_input = ops.reshape(ops.sum(per_group, axis=4), (kh, kw, cin * groups))  # (kh, kw, Cin)
    return ops.max(_tap_sums(per_input, column_tap_sets(*axes[0]), column_tap_sets(*axes[1])))


def conv_linf_norm(kernel: Tensor, input_size: int | Sequence[int], strides: int | Sequence[int] = 1,
                   padding: str | Sequence[tuple[int, int]] = "valid", dilation: int | Sequence[int] = 1) -> Tensor:
    """||conv||_inf: the largest absolute row sum, `max_{o, A, B} sum_i sum_{(a, b) in A x B} |K[a, b, i, o]|` over
    the row tap sets; with Assumption 1 one row sees every tap (Liang & Huang (2021) eq. (2)). Grouped kernels need
    nothing more: an output only sees its group's inputs, which are the kernel's input axis."""
    axes = _axes(input_size, kernel.shape, strides, padding, dilation)
    per_output = ops.sum(ops.abs(kernel), axis=2)  # (kh, kw, Cout)
    return ops.max(_tap_sums(per_output, row_tap_sets(*axes[0]), row_tap_sets(*axes[1])))


def conv_l2_upper_bound(kernel: Tensor, input_size: int | Sequence[int], strides: int | Sequence[int] = 1,
                        padding: str | Sequence[tuple[int, int]] = "valid",
                        dilation: int | Sequence[int] = 1) -> Tensor:
    """Liang & Huang (2021) Theorem 1 eq. (3): ||conv||_2 <= sqrt(h_out w_out ||K||_F^2)."""
    axes = _axes(input_size, kernel.shape, strides, padding, dilation)
    outputs = np.prod([axis_geometry(*axis)[0] for axis in axes])
    return ops.sqrt(float(outputs) * ops.sum(ops.square(kernel)))


def dense_l1_norm(kernel: Tensor) -> Tensor:
    """Largest absolute column sum of the map x -> x W (W of shape (in, out)): max over inputs of sum_o |W[i, o]|."""
    return ops.max(ops.sum(ops.abs(kernel), axis=1))


def dense_linf_norm(kernel: Tensor) -> Tensor:
    """Largest absolute row sum of x -> x W: max over outputs of sum_i |W[i, o]|."""
    return ops.max(ops.sum(ops.abs(kernel), axis=0))


def batch_norm_scale(gamma: Tensor, moving_variance: Tensor, epsilon: float) -> Tensor:
    """The per-channel factor gamma / sqrt(var + eps) of batch norm at inference; the layer is diagonal, so its l1,
    l2 and l-inf norms all equal the largest absolute factor."""
    return ops.abs(gamma) / ops.sqrt(moving_variance + epsilon)
