"""Which kernel taps a convolution's output and input positions see, per spatial axis.

A Conv2D is the linear map y[p, q, o] = sum_{a, b, i} K[a, b, i, o] x[p s + a d - pad, q s + b d - pad', i] (taps that
fall in the zero padding read nothing). Along one axis, output position p sees the taps a whose input row is inside
the image (a row of the layer's matrix), and input row u is seen through the taps a with u = p s + a d - pad for
some output p (a column). Only the sets that are maximal under inclusion matter for a maximum of absolute sums.

Reference: Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Lemma 1: the column
index sets are offsets congruent modulo the stride, limited by how far the kernel slides over the padded input.
Enumerating them from the geometry, as here, gives the same sets where its Assumption 1 holds and stays exact where it
does not.
"""

from __future__ import annotations

import numpy as np

from kerobust.layers.conv_geometry import output_size, padding_amounts
from kerobust.types import Array


def axis_geometry(size: int, kernel: int, stride: int = 1, padding: str | tuple[int, int] = "valid",
                  dilation: int = 1) -> tuple[int, int]:
    """`(out_size, pad_before)` along one axis; `padding` is "same", "valid" or an explicit `(before, after)`."""
    span = (kernel - 1) * dilation + 1
    if isinstance(padding, str):
        return output_size(size, span, stride, padding), padding_amounts(size, span, stride, padding)[0]
    before, after = padding
    return output_size(size + before + after, span, stride, "valid"), before


def _maximal(masks):
    """The distinct boolean rows of `masks` that are not strict subsets of another row."""
    unique = np.unique(np.asarray(masks, dtype=bool), axis=0)
    keep = [m for m in unique if not any(np.all(m <= o) and np.any(o & ~m) for o in unique)]
    return np.asarray(keep, dtype="float32").reshape(-1, unique.shape[1])


def _reads(size, kernel, stride, padding, dilation):
    """`reads[p, a]`: input index read by output p through tap a (-1 where it falls in the padding)."""
    out, before = axis_geometry(size, kernel, stride, padding, dilation)
    rows = np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation - before
    return np.where((rows >= 0) & (rows < size), rows, -1)


def row_tap_sets(size: int, kernel: int, stride: int = 1, padding: str | tuple[int, int] = "valid",
                 dilation: int = 1) -> Array:
    """Maximal sets of taps that one output position sees (0/1 rows of length `kernel`): the l-inf structure."""
    return _maximal(_reads(size, kernel, stride, padding, dilation) >= 0)


def column_tap_sets(size: int, kernel: int, stride: int = 1, padding: str | tuple[int, int] = "valid",
                    dilation: int = 1) -> Array:
    """Maximal sets of taps through which one input position is seen (0/1 rows of length `kernel`): the l1
    structure (Liang & Huang (2021) Lemma 1's index sets along one axis)."""
    reads = _reads(size, kernel, stride, padding, dilation)
    seen = np.zeros((size, kernel), dtype=bool)
    for a in range(kernel):
        rows = reads[:, a]
        seen[rows[rows >= 0], a] = True
    return _maximal(seen)
