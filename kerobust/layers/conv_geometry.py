"""Where a Keras `Conv2D` puts its kernel: output sizes and the zero padding of `same` and `valid`.

Reference: the TensorFlow/Keras convention for `padding="same"` (total padding `max((out - 1) * s + k - n, 0)`,
the smaller half on the left/top), which PyTorch's symmetric padding differs from for even kernels and strides.
"""

from __future__ import annotations

import math
from typing import Sequence

from kerobust.errors import unknown_name

PADDINGS = ("same", "valid")


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Length of a conv output along one axis for an input of length `size`."""
    if padding == "same":
        return math.ceil(size / stride)
    if padding == "valid":
        return (size - kernel) // stride + 1
    raise unknown_name("padding", padding, PADDINGS)


def padding_amounts(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(before, after) zeros that `padding` adds along one axis."""
    if padding == "valid":
        return 0, 0
    total = max((output_size(size, kernel, stride, padding) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def padded_size(size: Sequence[int], kernel: Sequence[int], strides: Sequence[int], padding: str) -> tuple[int, ...]:
    """(H, W) of the input after the zero padding `padding` adds (the grid whose circular convolution contains the
    layer), at least the kernel's size on each axis."""
    padded = (n + sum(padding_amounts(n, k, s, padding)) for n, k, s in zip(size, kernel, strides))
    return tuple(max(int(n), int(k)) for n, k in zip(padded, kernel))
