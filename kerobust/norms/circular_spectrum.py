"""All singular values of a stride-1 circular convolution, from the kernel's 2-D FFT.

Reference: Sedghi, Gupta & Long 2019, "The Singular Values of Convolutional Layers", Theorem 6: for an n x n input the
singular values of the circular convolution are those of the n^2 matrices T[u, v] (Cin x Cout), where T is the 2-D
DFT of the kernel zero-padded to n x n. Its largest is the exact l2 norm of that operator.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from kerobust.types import Array, ArrayLike


def circular_transfer(kernel: ArrayLike, size: int | tuple[int, ...]) -> Array:
    """T[u, v] = DFT over the two spatial axes of the kernel (kh, kw, Cin, Cout) zero-padded to `size` (n or (n, m))."""
    height, width = cast("tuple[int, int]", (size, size) if np.ndim(size) == 0 else size)  # ndim 0: an int
    kernel = np.asarray(kernel, dtype="float64")
    if kernel.shape[0] > height or kernel.shape[1] > width:
        raise ValueError(f"kernel {kernel.shape[:2]} is larger than the input {height}x{width}.")
    return np.fft.fft2(kernel, s=(height, width), axes=(0, 1))


def circular_singular_values(kernel: ArrayLike, size: int | tuple[int, ...]) -> Array:
    """Every singular value of the circular convolution of `kernel` on a `size` input, shape (n, m, min(Cin, Cout))."""
    return np.linalg.svd(circular_transfer(kernel, size), compute_uv=False)


def circular_l2_norm(kernel: ArrayLike, size: int | tuple[int, ...]) -> float:
    """The l2 operator norm (largest singular value) of the circular convolution."""
    return float(circular_singular_values(kernel, size).max())
