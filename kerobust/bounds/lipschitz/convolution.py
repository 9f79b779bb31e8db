"""Convolution rules (docs/bounds.md section 2.3).

Thesis (Peck 2017, Theorem 5.1 / summary Theorem 2): kappa_in = kappa / ||W||_F, whatever the bias, stride, padding
or ReLU. Not a valid bound in general (docs/bounds.md section 8, E4: the proof squares a sum as a sum of squares).

Sound: kappa_in = kappa / Lip, with Lip an upper bound on the layer's l2 operator norm: the smaller of
||W||_F sqrt(m) (m = output positions that can read one input: Theorem 1 eq. (3) of Liang & Huang 2021, "Large Norms
of CNN Layers Do Not Hurt Adversarial Robustness", in its per-input form) and the spectral norm of the circular
convolution on the zero-padded grid, which contains the layer (a strided layer keeps a subset of its rows); grouped
layers take the largest group, dilated kernels are spread out first.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import keras

import numpy as np
from keras import ops

from kerobust.layers.conv_geometry import padded_size
from kerobust.norms.circular_spectrum import circular_l2_norm
from kerobust.norms.layer_norm import conv_input_size
from kerobust.types import Array, ArrayLike, Tensor


def thesis_conv(kappa: Tensor, kernel: Tensor) -> Tensor:
    """Theorem 5.1: kappa / ||W||_F (+inf for an all-zero kernel)."""
    norm = ops.sqrt(ops.sum(ops.square(ops.convert_to_tensor(kernel))))
    return ops.where(norm > 0, kappa / ops.where(norm > 0, norm, 1.0), float("inf"))


def _dilated(kernel: Array, dilation: tuple[int, int]) -> Array:
    kh, kw, cin, cout = kernel.shape
    dh, dw = dilation
    spread = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1, cin, cout), kernel.dtype)
    spread[::dh, ::dw] = kernel
    return spread


def conv_lipschitz(layer: keras.layers.Conv2D, kernel: Array | None = None) -> float:
    """An upper bound on the l2 operator norm of a Conv2D's linear part (bias excluded, activation not included),
    with its own kernel or a replacement of the same shape (batch norm folded in, `folding`)."""
    return kernel_lipschitz(
        ops.convert_to_numpy(layer.kernel) if kernel is None else kernel, conv_input_size(layer), tuple(layer.strides),
        layer.padding, tuple(layer.dilation_rate), layer.groups,
    )


def output_windows(kernel_size: Iterable[int], strides: Iterable[int]) -> int:
    """m = prod_i ceil(k_i / s_i): the most output positions one input position feeds (Liang & Huang 2021, eq. (3),
    per input), for the (dilated) kernel size."""
    return math.prod(math.ceil(k / s) for k, s in zip(kernel_size, strides))


def kernel_lipschitz(kernel: ArrayLike, size: Sequence[int], strides: tuple[int, int] = (1, 1), padding: str = "valid",
                     dilation: tuple[int, int] = (1, 1), groups: int = 1) -> float:
    """`conv_lipschitz` for a (kh, kw, Cin / groups, Cout) kernel on an input of `size` = (H, W)."""
    kernel = _dilated(np.asarray(kernel, dtype="float64"), dilation)
    kh, kw = kernel.shape[:2]
    frobenius = float(np.sqrt(np.sum(kernel**2) * output_windows((kh, kw), strides)))
    grid = padded_size(size, (kh, kw), strides, padding)
    per_group_out = kernel.shape[3] // groups
    spectral = max(
        circular_l2_norm(kernel[..., g * per_group_out:(g + 1) * per_group_out], grid) for g in range(groups)
    )
    return min(frobenius, spectral)


def depthwise_lipschitz(layer: keras.layers.DepthwiseConv2D, size: Sequence[int], kernel: Array | None = None) -> float:
    """A DepthwiseConv2D on a `size` input, as the grouped convolution it is (one group per input channel), with its
    own kernel or a replacement of the same shape."""
    kernel = ops.convert_to_numpy(layer.kernel) if kernel is None else kernel  # (kh, kw, C, multiplier)
    kh, kw, channels, multiplier = kernel.shape
    grouped = np.reshape(kernel, (kh, kw, 1, channels * multiplier))  # group c makes outputs c * multiplier + m
    return kernel_lipschitz(grouped, size, tuple(layer.strides), layer.padding, tuple(layer.dilation_rate), channels)
