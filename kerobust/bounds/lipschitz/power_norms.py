"""Power-iteration estimates of Dense and Conv2D operator norms, differentiable in the kernels (Lipschitz-margin
training; Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-Margin Training", section 4; the conv's circular operator per
frequency after Sedghi, Gupta & Long 2019, "The Singular Values of Convolutional Layers"). Power iteration approaches
each norm from below; the vectors are held fixed in the gradient (sigma = ||A v||, v normalised).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from kerobust.bounds.lipschitz.convolution import output_windows
from kerobust.layers.conv_geometry import padded_size
from kerobust.norms.layer_norm import conv_input_size
from kerobust.types import Tensor

TINY = 1e-12


def _normalised(parts: Sequence[Tensor], axes: int | tuple[int, ...]) -> list[Tensor]:
    """`parts` (real and imaginary arrays of one complex vector per block) scaled to unit norm over `axes`."""
    norm = ops.sqrt(sum(ops.sum(ops.square(p), axis=axes, keepdims=True) for p in parts))
    return [p / ops.maximum(norm, TINY) for p in parts]


def _dilated(kernel: Tensor, dilation: tuple[int, int]) -> Tensor:
    """The kernel spread out by `dilation` (zeros between taps), in `keras.ops` so the gradient reaches the kernel."""
    for axis, rate in enumerate(dilation):
        if rate == 1:
            continue
        shape = list(kernel.shape)
        spread = ops.stack([kernel] + [ops.zeros_like(kernel)] * (rate - 1), axis=axis + 1)
        shape[axis] = shape[axis] * rate
        kernel = ops.reshape(spread, shape)
        kernel = ops.take(kernel, list(range(shape[axis] - rate + 1)), axis=axis)
    return kernel


def _transfer(kernel: Tensor, grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """(real, imaginary) DFT blocks T[u, v] (H, W, Cin, Cout) of the kernel zero-padded to `grid` (H, W)."""
    kh, kw = kernel.shape[:2]
    channels_first = ops.transpose(kernel, (2, 3, 0, 1))
    padded = ops.pad(channels_first, [(0, 0), (0, 0), (0, grid[0] - kh), (0, grid[1] - kw)])
    real, imag = ops.fft2((padded, ops.zeros_like(padded)))
    return ops.transpose(real, (2, 3, 0, 1)), ops.transpose(imag, (2, 3, 0, 1))


def _block_product(vector: Sequence[Tensor], blocks: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """x T for every block: `vector` (real, imag) (H, W, Cin), `blocks` (real, imag) (H, W, Cin, Cout)."""
    (xr, xi), (tr, ti) = vector, blocks
    def product(a, b):
        return ops.einsum("hwi,hwio->hwo", a, b)

    return product(xr, tr) - product(xi, ti), product(xr, ti) + product(xi, tr)


def _block_adjoint_product(vector: Sequence[Tensor], blocks: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """y T^H for every block: `vector` (real, imag) (H, W, Cout)."""
    (yr, yi), (tr, ti) = vector, blocks
    def product(a, b):
        return ops.einsum("hwo,hwio->hwi", a, b)

    return product(yr, tr) + product(yi, ti), product(yi, tr) - product(yr, ti)


def power_vector_shape(layer: keras.layers.Layer) -> tuple[int, ...] | None:
    """The power-iteration vector of a Conv2D (its DFT grid, per group) or a Dense layer, else None."""
    if isinstance(layer, keras.layers.Conv2D):  # DepthwiseConv2D is not one: refused as trainable, no rule
        kh, kw, cin, _ = layer.kernel.shape
        dh, dw = layer.dilation_rate
        grid = padded_size(conv_input_size(layer), ((kh - 1) * dh + 1, (kw - 1) * dw + 1), tuple(layer.strides),
                           layer.padding)
        return (layer.groups, 2, grid[0], grid[1], cin)
    if isinstance(layer, keras.layers.Dense):
        return (layer.kernel.shape[0],)
    return None


def dense_power_norm(layer: keras.layers.Dense, vector: keras.Variable, iterations: int) -> Tensor:
    """||W||_2 of a Dense layer, by power iteration from `vector` (advanced in place)."""
    kernel = ops.convert_to_tensor(layer.kernel)
    fixed = ops.stop_gradient(kernel)
    v = ops.convert_to_tensor(vector)
    for _ in range(iterations):
        v = _normalised([ops.matmul(fixed, ops.matmul(v, fixed))], 0)[0]
    vector.assign(v)
    return ops.sqrt(ops.sum(ops.square(ops.matmul(v, kernel))))

def conv_power_norm(layer: keras.layers.Conv2D, vector: keras.Variable, iterations: int) -> Tensor:
    """min(||W||_F sqrt(m), max over frequencies of the DFT block norms) of a Conv2D, by power iteration."""
    kernel = _dilated(ops.convert_to_tensor(layer.kernel), tuple(layer.dilation_rate))
    kh, kw, _, cout = kernel.shape
    frobenius = ops.sqrt(ops.sum(ops.square(kernel)) * output_windows((kh, kw), layer.strides))
    grid = tuple(vector.shape[2:4])
    per_group = cout // layer.groups
    state = ops.convert_to_tensor(vector)
    updated, spectral = [], []
    for g in range(layer.groups):
        blocks = _transfer(kernel[..., g * per_group:(g + 1) * per_group], grid)
        fixed = [ops.stop_gradient(b) for b in blocks]
        x = [state[g, 0], state[g, 1]]
        for _ in range(iterations):
            x = _normalised(_block_adjoint_product(_block_product(x, fixed), fixed), (2,))
        updated.append(ops.stack(x))
        yr, yi = _block_product(x, blocks)
        spectral.append(ops.sqrt(ops.max(ops.sum(ops.square(yr) + ops.square(yi), axis=-1))))
    vector.assign(ops.stack(updated))
    return ops.minimum(frobenius, ops.max(ops.stack(spectral)))
