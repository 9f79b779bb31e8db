"""Convolutional Normalization (ConvNorm): a convolution whose output channels are preconditioned into tight frames.

Reference: Liu et al. 2021, "Convolutional Normalization: Improving Deep Convolutional Network Robustness and
Training", eq. (6)-(8) (restated in O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks", section 3,
eq. (1)-(3)). Per output channel k the multi-channel operator A_k = [C_{a_k1}, ..., C_{a_kC}] is replaced by
(A_k A_k^T)^(-1/2) A_k, which for circular convolutions is a per-frequency scale `v_k = (sum_j |FFT a_kj|^2)^(-1/2)`
applied to the channel's output.

How it is computed (same numbers as the reference's FFTs, tested against NumPy to 1e-5): `v_k` comes from the
kernel's autocorrelation and a small cosine table (Wiener-Khinchin) rather than FFTs of every zero-padded kernel;
small grids apply `v_k` as a dense circulant matrix restricted to the outputs the crop keeps, large grids by real FFTs.

Deliberate differences from the reference code (the public ConvNorm implementation of Liu et al. 2021):
* `v_k` adds `epsilon` (1e-8) under the square root, so an all-zero kernel gives finite outputs.
* The running estimate's cosine schedule is held at its floor after `decay_calls` training calls; the reference's
  `cos(pi t / 40000)` would rise again after 40000 calls.
* Before the first training call the layer has no running estimate and uses the kernel's own `v` at inference.
* The affine depthwise kernel starts as the identity (a centred delta), so an untrained layer is the preconditioned
  convolution itself.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.layers.conv_geometry import PADDINGS, output_size, padding_amounts
from kerobust.layers.dft_filter import dft_filter
from kerobust.types import Tensor


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(f"ConvNorm {name} must be a positive integer or a pair of them, got {value!r}.")
    return tuple(int(v) for v in pair)


def _identity_depthwise(shape, dtype=None):
    """A depthwise kernel that passes every channel through unchanged (1 at the centre used by `same` padding)."""
    kh, kw = shape[0], shape[1]
    centre = ops.one_hot((kh - 1) // 2 * kw + (kw - 1) // 2, kh * kw, dtype=dtype or "float32")
    return ops.broadcast_to(ops.reshape(centre, (kh, kw, 1, 1)), shape)


def _autocorrelation(kernel):
    """`R_k[s, t] = sum_j sum_{a, b} a_kj[a, b] a_kj[a + s, b + t]` for |s| < kh, |t| < kw: (C_out, 2kh - 1, 2kw - 1).

    Computed as the Gram matrix of each output channel's taps (one batched matmul) summed along its diagonals.
    """
    kh, kw, channels, filters = kernel.shape
    taps = ops.reshape(kernel, (kh * kw, channels, filters))
    gram = ops.einsum("pjk,qjk->kpq", taps, taps)  # (C_out, kh kw, kh kw)
    a, b = np.divmod(np.arange(kh * kw), kw)
    shift = ((a[None, :] - a[:, None]) + kh - 1) * (2 * kw - 1) + (b[None, :] - b[:, None]) + kw - 1
    diagonals = np.zeros((kh * kw * kh * kw, (2 * kh - 1) * (2 * kw - 1)),
                         keras.backend.standardize_dtype(kernel.dtype))
    diagonals[np.arange(kh * kw * kh * kw), shift.ravel()] = 1.0
    correlation = ops.matmul(ops.reshape(gram, (filters, kh * kw * kh * kw)), diagonals)
    return ops.reshape(correlation, (filters, 2 * kh - 1, 2 * kw - 1))


def _cosine_sine(size, half_width, frequencies, dtype):
    """cos / sin(2 pi f s / size) for shifts s = -half_width .. half_width and the given frequencies: (F, 2h + 1)."""
    shifts = np.arange(-half_width, half_width + 1)
    angles = 2 * np.pi * np.outer(np.arange(frequencies), shifts) / size
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def channel_preconditioner(kernel: Tensor, grid: Sequence[int], epsilon: float) -> Tensor:
    """`v_k(w) = (sum_j |FFT a_kj(w)|^2 + epsilon)^(-1/2)` on a `grid` = (H', W') frequency grid.

    The power spectrum `sum_j |FFT a_kj|^2` is the Fourier transform of the kernel's autocorrelation
    `R_k = sum_j a_kj * a_kj` (Wiener-Khinchin), which has only (2kh - 1)(2kw - 1) taps; transforming R_k with a
    small cosine/sine table costs far less than FFTs of all C_out x C_in zero-padded kernels, and is exact.

    Args:
        kernel: (kh, kw, C_in, C_out) conv kernel.
        grid: the circular grid the kernel is zero-padded to (at least the kernel's size).
        epsilon: added under the square root.

    Returns:
        (C_out, H', W' // 2 + 1) real preconditioner on the half spectrum of a real FFT (the kernel is real, so the
        other half is its mirror image), or (C_out,) for 1x1 kernels (`(sum_j a_kj^2 + epsilon)^(-1/2)`).
    """
    kh, kw = kernel.shape[0], kernel.shape[1]
    if kh == 1 and kw == 1:
        return ops.rsqrt(ops.sum(ops.square(kernel[0, 0]), axis=0) + epsilon)
    correlation = _autocorrelation(kernel)  # (C_out, 2kh - 1, 2kw - 1)
    dtype = keras.backend.standardize_dtype(kernel.dtype)  # the tables follow the computation (float64 when asked)
    cos_h, sin_h = _cosine_sine(grid[0], kh - 1, grid[0], dtype)
    cos_w, sin_w = _cosine_sine(grid[1], kw - 1, grid[1] // 2 + 1, dtype)
    # Re FFT R (w1, w2) = sum_{s, t} R[s, t] cos(2 pi (s w1 / H' + t w2 / W')); R is even, so the FFT is real.
    power = (ops.einsum("hs,kst,wt->khw", cos_h, correlation, cos_w)
             - ops.einsum("hs,kst,wt->khw", sin_h, correlation, sin_w))
    return ops.rsqrt(ops.maximum(power, 0.0) + epsilon)


# Grids up to this many points apply the preconditioner as a dense per-channel matrix (one batched matmul), which
# on CPU is several times faster than many tiny FFTs; larger grids use real FFTs. Both are exact.
DENSE_GRID_POINTS = 256


def _circulant_indices(grid):
    """(P, P) indices into a flattened H' x W' spatial filter: entry (p, q) holds the offset p - q (circularly)."""
    rows, cols = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    return ((rows[:, None] - rows[None, :]) % grid[0]) * grid[1] + (cols[:, None] - cols[None, :]) % grid[1]


def _spatial_filter(v, grid):
    """The circular filter with half-spectrum `v` (C, H', W' // 2 + 1) in space: irfft2(v), (C, H' * W')."""
    height, width = grid
    rows = np.arange(height)
    cols = np.arange(width // 2 + 1)
    # irfft2 of a real, even spectrum: (1 / HW) sum_w c(w2) v(w) cos(2 pi (w1 y / H + w2 x / W)), where c doubles the
    # columns that stand for two mirrored frequencies.
    weights = np.where((cols == 0) | ((width % 2 == 0) & (cols == width // 2)), 1.0, 2.0)
    cos_h = np.cos(2 * np.pi * np.outer(rows, rows) / height)
    sin_h = np.sin(2 * np.pi * np.outer(rows, rows) / height)
    cos_w = np.cos(2 * np.pi * np.outer(np.arange(width), cols) / width) * weights / (height * width)
    sin_w = np.sin(2 * np.pi * np.outer(np.arange(width), cols) / width) * weights / (height * width)
    dtype = keras.backend.standardize_dtype(v.dtype)
    spatial = ops.einsum("yh,khw,xw->kyx", cos_h.astype(dtype), v, cos_w.astype(dtype)) - ops.einsum(
        "yh,khw,xw->kyx", sin_h.astype(dtype), v, sin_w.astype(dtype)
    )
    return ops.reshape(spatial, (v.shape[0], height * width))


def apply_preconditioner(z: Tensor, v: Tensor, rows: slice | None = None, cols: slice | None = None,
                         use_fft: bool = True) -> Tensor:
    """Filters each channel of `z` (N, H', W', C) circularly by its real half-spectrum `v` (C, H', W' // 2 + 1):
    irfft2(rfft2(z) v), on small grids as a dense circulant matrix per channel, on large ones by FFT or, with
    `use_fft` off, by DFT matmuls (`dft_filter`: about half the FFT's speed on CPU, but exportable to ONNX).

    Args:
        z, v: as above.
        rows, cols: optional slices of the output to keep (the crop and stride); the dense and DFT forms compute
            only those.
        use_fft: as above.
    """
    grid = (z.shape[1], z.shape[2])
    rows, cols = rows or slice(None), cols or slice(None)
    if grid[0] * grid[1] > DENSE_GRID_POINTS:
        if not use_fft:
            return dft_filter(z, v, rows, cols)
        return backend.spectral_filter(z, v)[:, rows, cols, :]
    kept_rows, kept_cols = np.arange(grid[0])[rows], np.arange(grid[1])[cols]
    kept = (kept_rows[:, None] * grid[1] + kept_cols[None, :]).ravel()
    matrices = ops.take(_spatial_filter(v, grid), _circulant_indices(grid)[kept], axis=1)  # (C, kept, P)
    flat = ops.reshape(z, (-1, grid[0] * grid[1], z.shape[3]))
    return ops.reshape(ops.einsum("npc,cqp->nqc", flat, matrices), (-1, len(kept_rows), len(kept_cols), z.shape[3]))


@keras.saving.register_keras_serializable(package="kerobust")
class ConvNorm(keras.layers.Layer):
    """2-D convolution with ConvNorm preconditioning, an optional affine depthwise step and batch normalisation.

    The convolution runs at stride 1 over the zero-padded ("full") input, each output channel is preconditioned on
    the (H + kh - 1) x (W + kw - 1) grid, then the output is cropped and subsampled to what `Conv2D` with the same
    `padding` and `strides` returns. With `v = 1` it computes that `Conv2D`'s sums (up to their order: float
    rounding). `v` carries no gradient. Training calls use the kernel's current `v` and update a running estimate
    `running_v = f v + (1 - f) running_v` with `f = max((cos(pi t / decay_calls) + 1) / 2, floor)`; inference uses
    the running estimate. The layer is built for one input height and width, because `v` lives on a grid of that
    size.

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: "same" or "valid" (Keras conventions).
        use_bias: add a bias after preconditioning (only when `affine` is off; the affine step has its own bias).
        affine: follow with a depthwise convolution of the same kernel size with bias ("kernel r" of the paper).
        batch_norm: follow with batch normalisation (the reference's default; "bn+convnorm" in O'Hanlon (2021)).
        epsilon: added under the preconditioner's square root.
        decay_calls, floor: the running estimate's cosine schedule (40000 and 0.01 in the reference).
        kernel_initializer, kernel_regularizer, kernel_constraint: for the convolution kernel.

    Reference: Liu et al. 2021, eq. (6)-(8); running estimate and affine step as in the authors' code.
    """

    def __init__(self, filters: int, kernel_size: int | Sequence[int], strides: int | Sequence[int] = 1,
                 padding: str = "same", use_bias: bool = False, affine: bool = True, batch_norm: bool = True,
                 epsilon: float = 1e-8, decay_calls: int = 40000, floor: float = 0.01,
                 kernel_initializer: str | dict[str, Any] | keras.initializers.Initializer = "he_normal",
                 kernel_regularizer: str | dict[str, Any] | keras.regularizers.Regularizer | None = None,
                 kernel_constraint: str | dict[str, Any] | keras.constraints.Constraint | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"ConvNorm filters must be a positive integer, got {filters!r}.")
        if padding not in PADDINGS:
            raise ValueError(f"ConvNorm padding must be one of {PADDINGS}, got {padding!r}.")
        if epsilon < 0 or decay_calls < 1 or not 0 <= floor <= 1:
            raise ValueError(
                f"ConvNorm needs epsilon >= 0, decay_calls >= 1 and 0 <= floor <= 1, "
                f"got {epsilon}, {decay_calls}, {floor}."
            )
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.affine = bool(affine)
        self.batch_norm = bool(batch_norm)
        self.epsilon = float(epsilon)
        self.decay_calls = int(decay_calls)
        self.floor = float(floor)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.affine_conv: keras.layers.DepthwiseConv2D | None = None
        self.normalization: keras.layers.BatchNormalization | None = None
        self.use_fft = True  # off: FFT-free large grids (`apply_preconditioner`), for exporters without FFTs

    @property
    def is_pointwise(self) -> bool:
        return self.kernel_size == (1, 1)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        height, width, channels = input_shape[1], input_shape[2], input_shape[3]
        if height is None or width is None or channels is None:
            raise ValueError(
                f"ConvNorm needs a fixed input height, width and channels (its preconditioner lives on an "
                f"H x W grid), got input shape {tuple(input_shape)}."
            )
        kh, kw = self.kernel_size
        if self.padding == "valid" and (height < kh or width < kw):
            raise ValueError(f"ConvNorm with padding 'valid' needs inputs of at least {kh}x{kw}, got {height}x{width}.")
        self.input_size = (int(height), int(width))
        self.grid = (height + kh - 1, width + kw - 1)
        self.kernel = self.add_weight(
            name="kernel", shape=(kh, kw, channels, self.filters), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        running_shape = (self.filters,) if self.is_pointwise else (self.filters, self.grid[0], self.grid[1] // 2 + 1)
        self.running_v = self.add_weight(name="running_v", shape=running_shape, initializer="ones", trainable=False)
        self.training_calls = self.add_weight(name="training_calls", shape=(), initializer="zeros", trainable=False)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias and not self.affine else None)
        out_shape = self.compute_output_shape(input_shape)
        if self.affine:
            self.affine_conv = keras.layers.DepthwiseConv2D(
                self.kernel_size, padding="same", depthwise_initializer=_identity_depthwise, name="affine",
                dtype=self.dtype_policy,
            )
            self.affine_conv.build(out_shape)
        if self.batch_norm:
            self.normalization = keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, name="batch_norm", dtype=self.dtype_policy
            )
            self.normalization.build(out_shape)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        sizes = [
            output_size(n, k, s, self.padding) if n is not None else None
            for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)
        ]
        return (input_shape[0], *sizes, self.filters)

    def preconditioner(self) -> Tensor:
        """The current kernel's `v` (no gradient)."""
        return ops.stop_gradient(channel_preconditioner(self.kernel, self.grid, self.epsilon))

    def schedule_factor(self) -> Tensor:
        """The running estimate's weight `f` on the current `v` at this training call."""
        t = ops.minimum(self.training_calls, float(self.decay_calls))
        return ops.maximum(0.5 * (ops.cos(math.pi * t / self.decay_calls) + 1.0), self.floor)

    def inference_preconditioner(self) -> Tensor:
        """The `v` inference uses: the running estimate, or the kernel's own `v` before the first training call."""
        return ops.cond(self.training_calls.value > 0, lambda: self.running_v.value, self.preconditioner)

    def call(self, inputs: Tensor, training: bool | None = False) -> Tensor:
        if training:
            v = self.preconditioner()
            f = self.schedule_factor()
            self.running_v.assign(f * v + (1.0 - f) * self.running_v)
            self.training_calls.assign(self.training_calls + 1.0)
        else:
            v = self.inference_preconditioner()
        outputs = self.preconditioned_conv(inputs, v)
        if self.bias is not None:
            outputs = outputs + self.bias
        if self.affine_conv is not None:
            outputs = self.affine_conv(outputs)
        if self.normalization is not None:
            outputs = self.normalization(outputs, training=training)
        return outputs

    def preconditioned_conv(self, inputs: Tensor, v: Tensor | None) -> Tensor:
        """The convolution with each output channel filtered by `v` (None: unfiltered, `Conv2D` up to float
        rounding)."""
        if self.is_pointwise:
            pads = [padding_amounts(n, 1, s, self.padding) for n, s in zip(self.input_size, self.strides)]
            inputs = ops.pad(inputs, ((0, 0), *pads, (0, 0)))
            outputs = ops.conv(inputs, self.kernel, strides=self.strides, padding="valid")
            return outputs if v is None else outputs * v
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        full = ops.conv(ops.pad(inputs, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0))), self.kernel,
                        padding="valid")
        (top, _), (left, _) = (padding_amounts(n, k, s, self.padding)
                               for n, k, s in zip(self.input_size, self.kernel_size, self.strides))
        out_h, out_w = (output_size(n, k, s, self.padding)
                        for n, k, s in zip(self.input_size, self.kernel_size, self.strides))
        row0, col0 = kh - 1 - top, kw - 1 - left
        rows = slice(row0, row0 + (out_h - 1) * sh + 1, sh)
        cols = slice(col0, col0 + (out_w - 1) * sw + 1, sw)
        if v is None:
            return full[:, rows, cols, :]
        return apply_preconditioner(full, v, rows, cols, self.use_fft)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            use_bias=self.use_bias, affine=self.affine, batch_norm=self.batch_norm, epsilon=self.epsilon,
            decay_calls=self.decay_calls, floor=self.floor,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            kernel_constraint=keras.constraints.serialize(self.kernel_constraint),
        )
        return config
