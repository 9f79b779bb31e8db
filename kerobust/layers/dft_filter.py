"""Circular per-channel filtering by a real half-spectrum, irfft2(rfft2(z) v), written as four small DFT matmuls.

The same numbers as the FFT form (`kerobust.backend.spectral_filter`) in plain Keras ops, so it runs where FFTs do not
(ONNX: tf2onnx has no IRFFT2D) and computes only the output rows and columns a caller keeps. With the real DFT tables
C[y, h] = cos(2 pi y h / H), S[y, h] = sin(2 pi y h / H) (and the same along W):
* along W, the half spectrum: A = z C_W, B = -z S_W;
* along H, the full spectrum: Re = C_H^T A + S_H^T B, Im = C_H^T B - S_H^T A; then both times v;
* back along H (kept rows): (C_H Re - S_H Im) / H and (S_H Re + C_H Im) / H;
* back along W (kept columns): sum_w c_w (Re cos - Im sin) / W, where c_w = 2 except at w = 0 and the Nyquist column.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerobust.types import Tensor


def _forward_tables(height, width):
    """(W, 2, F) W-rfft table [cos | -sin] and (2, H, 2, H) H-DFT table mapping (part, y) to (part, h)."""
    x, f = np.arange(width), np.arange(width // 2 + 1)
    angle_w = 2 * np.pi * np.outer(x, f) / width
    along_w = np.stack([np.cos(angle_w), -np.sin(angle_w)], axis=1)  # (W, 2, F)
    y = np.arange(height)
    cos_h, sin_h = np.cos(2 * np.pi * np.outer(y, y) / height), np.sin(2 * np.pi * np.outer(y, y) / height)
    along_h = np.empty((2, height, 2, height))  # [input part, y, output part, h]
    along_h[0, :, 0], along_h[1, :, 0] = cos_h, sin_h  # Re = C^T A + S^T B
    along_h[0, :, 1], along_h[1, :, 1] = -sin_h, cos_h  # Im = C^T B - S^T A
    return along_w, along_h


def _inverse_tables(height, width, rows, cols):
    """(2, H, 2, R) inverse H-DFT table onto the kept rows and (2, F, X) inverse W-rfft table onto the kept columns."""
    h, r = np.arange(height), np.arange(height)[rows]
    angle_h = 2 * np.pi * np.outer(h, r) / height
    cos_h, sin_h = np.cos(angle_h) / height, np.sin(angle_h) / height
    along_h = np.empty((2, height, 2, len(r)))  # [input part, h, output part, r]
    along_h[0, :, 0], along_h[1, :, 0] = cos_h, -sin_h  # Re = (C Re - S Im) / H
    along_h[0, :, 1], along_h[1, :, 1] = sin_h, cos_h  # Im = (S Re + C Im) / H
    f, x = np.arange(width // 2 + 1), np.arange(width)[cols]
    doubled = np.where((f == 0) | ((width % 2 == 0) & (f == width // 2)), 1.0, 2.0)[:, None] / width
    angle_w = 2 * np.pi * np.outer(f, x) / width
    along_w = np.stack([np.cos(angle_w) * doubled, -np.sin(angle_w) * doubled])  # (2, F, X)
    return along_h, along_w


def dft_filter(z: Tensor, v: Tensor, rows: slice | None = None, cols: slice | None = None) -> Tensor:
    """irfft2(rfft2(z) * v) over H and W of `z` (N, H, W, C), each channel by its real half-spectrum `v`
    (C, H, W // 2 + 1); only the output `rows` and `cols` (slices, default all) are computed."""
    height, width = z.shape[1], z.shape[2]
    dtype = keras.backend.standardize_dtype(z.dtype)
    rows, cols = rows or slice(None), cols or slice(None)
    forward_w, forward_h = (ops.convert_to_tensor(t.astype(dtype)) for t in _forward_tables(height, width))
    inverse_h, inverse_w = (ops.convert_to_tensor(t.astype(dtype)) for t in _inverse_tables(height, width, rows, cols))
    half = ops.einsum("nyxc,xpf->npyfc", z, forward_w)  # rfft along W: (N, 2, H, F, C)
    spectrum = ops.einsum("npyfc,pyqh->nqhfc", half, forward_h)  # DFT along H: (N, 2, H, F, C)
    filtered = spectrum * ops.transpose(v, (1, 2, 0))
    back = ops.einsum("nqhfc,qhpr->nprfc", filtered, inverse_h)  # inverse DFT along H, kept rows: (N, 2, R, F, C)
    return ops.einsum("nprfc,pfx->nrxc", back, inverse_w)  # inverse rfft along W, kept columns: (N, R, X, C)
