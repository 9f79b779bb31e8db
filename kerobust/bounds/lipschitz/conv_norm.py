"""ConvNorm in sound mode (docs/bounds.md section 2.7). The layer is Liu et al. 2021, eq. (6)-(8), as used by O'Hanlon
2021, "Adversarial Robustness of Convolutional Networks".

At inference a ConvNorm layer is crop-and-subsample o (per-channel circular filter v) o (full stride-1 convolution),
then an optional depthwise "affine" convolution and an optional batch norm. The full convolution of an H x W input is,
without wrap-around, the circular convolution on the (H + kh - 1) x (W + kw - 1) grid the filter v lives on, so per
frequency w the first two steps are the Cin x Cout matrix K(w) diag(v(w)) (K: the kernel's DFT on that grid). Its
largest singular value over all w is that operator's exact l2 norm; the crop keeps a subset of the outputs, which cannot
raise it. The affine step is a per-channel convolution (bounded like any convolution) with the batch norm's
per-channel scale folded into it (`folding`).

Not available in thesis mode: Peck's (2017) thesis has no rule for a preconditioned convolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from keras import ops

from kerobust.bounds.lipschitz.batch_norm import scale_of
from kerobust.bounds.lipschitz.convolution import depthwise_lipschitz
from kerobust.bounds.lipschitz.folding import scaled_kernel
from kerobust.types import ArrayLike

if TYPE_CHECKING:
    from kerobust.layers import ConvNorm


def preconditioned_norm(kernel: ArrayLike, v: ArrayLike, grid: tuple[int, int] | None) -> float:
    """max_w ||K(w) diag(v(w))||_2: the exact l2 norm of the `v`-filtered circular convolution on the `grid` (and so
    an upper bound for the full convolution it contains).

    Args:
        kernel: (kh, kw, Cin, Cout).
        v: (Cout, H', W' // 2 + 1) real half spectrum (the other half mirrors it), or (Cout,) for 1x1 kernels.
        grid: (H', W').
    """
    kernel = np.asarray(kernel, dtype="float64")
    v = np.asarray(v, dtype="float64")
    if v.ndim == 1:  # 1x1 kernel: the same Cin x Cout matrix at every pixel
        return float(np.linalg.norm(kernel[0, 0] * v[None, :], ord=2))
    transfer = np.fft.rfft2(kernel, s=grid, axes=(0, 1))  # (H', W' // 2 + 1, Cin, Cout)
    scaled = transfer * np.transpose(v, (1, 2, 0))[:, :, None, :]
    return float(np.linalg.svd(scaled, compute_uv=False).max())


def conv_norm_lipschitz(layer: ConvNorm) -> float:
    """An upper bound on a built ConvNorm layer's l2 Lipschitz constant at inference (its bias excluded)."""
    v = np.asarray(ops.convert_to_numpy(layer.inference_preconditioner()), dtype="float64")
    # The batch norm's per-channel scale g is folded into the step before it (see `folding`): the affine kernel's
    # channels, or without it the filter v.
    g = np.ones(layer.filters) if layer.normalization is None else ops.convert_to_numpy(scale_of(layer.normalization))
    if layer.affine_conv is None:
        v = v * np.reshape(g, (-1,) + (1,) * (v.ndim - 1))
    bound = preconditioned_norm(ops.convert_to_numpy(layer.kernel), v, layer.grid if v.ndim > 1 else None)
    if layer.affine_conv is not None:
        output_size = layer.compute_output_shape((None, *layer.input_size, None))[1:3]
        affine = scaled_kernel(layer.affine_conv, output_scale=np.asarray(g, dtype="float64"))
        bound *= depthwise_lipschitz(layer.affine_conv, output_size, affine)  # type: ignore[arg-type]  # fixed size: no None
    return bound

