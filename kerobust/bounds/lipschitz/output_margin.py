"""The output rule: the exact smallest l2 perturbation of the input y of a linear classifier argmax(y W + b).

Reference: Peck 2017, "Robustness of Classifiers to Adversarial Perturbations" (MSc thesis, Ghent University),
Lemmas 3.4-3.5, Theorem 3.6, Eq. 3.12 (docs/bounds.md section 2.1):
delta(y) = min_{c' != c} |z_c' - z_c| / ||w_c' - w_c|| with z = y W + b and c = argmax z. Exact for every linear
classifier (the same value in thesis and sound mode). Pairs with w_c' = w_c never separate (+inf). A model whose last
layer is not Dense (a global-pooling head) is the identity classifier W = I (delta = min gap / sqrt(2)).
"""

from __future__ import annotations

from keras import ops

from kerobust.types import Tensor


def margin_bound(logits: Tensor, kernel: Tensor | None = None) -> Tensor:
    """Per-sample delta: the l2 distance from y to the nearest decision boundary of argmax(y W + b).

    Args:
        logits: (N, C) values z = y W + b.
        kernel: W (d, C); None for the identity classifier on the logits themselves.

    Returns:
        (N,) distances (0 on a tie).
    """
    logits = ops.convert_to_tensor(logits)
    num_classes = logits.shape[-1]
    predicted = ops.argmax(logits, axis=-1)
    onehot = ops.one_hot(predicted, num_classes, dtype=logits.dtype)
    top = ops.sum(logits * onehot, axis=-1, keepdims=True)
    gaps = top - logits  # >= 0, zero at the predicted class
    if kernel is None:
        distances = ops.sqrt(2.0 * ops.ones_like(gaps, dtype=gaps.dtype))
    else:
        kernel = ops.cast(ops.convert_to_tensor(kernel), logits.dtype)
        w_top = ops.matmul(onehot, ops.transpose(kernel))  # (N, d): the predicted class's weight vector
        # ||w_c' - w_c|| from the subtracted columns (more accurate than the Gram-matrix expansion).
        distances = ops.sqrt(ops.sum(ops.square(kernel[None, :, :] - w_top[:, :, None]), axis=1))
    ratio = ops.where(distances > 0, gaps / ops.where(distances > 0, distances, 1.0), float("inf"))
    ratio = ops.where(onehot > 0, float("inf"), ratio)
    return ops.min(ratio, axis=-1)


def binary_margin_bound(logit: Tensor, kernel: Tensor) -> Tensor:
    """Single-logit (sigmoid) classifier `logit = y w + b`: the exact distance |y w + b| / ||w|| (Lemma 3.1)."""
    kernel = ops.convert_to_tensor(kernel)
    return ops.abs(ops.reshape(logit, (-1,))) / ops.sqrt(ops.sum(ops.square(kernel)))


def pair_distances(kernel: Tensor | None, labels: Tensor, logits: Tensor) -> Tensor:
    """||w_y - w_c|| for every point and class c, shaped like `logits` (N, C): the head's contribution to the
    Lipschitz constant of z_y - z_c (`kernel` None: the identity classifier, sqrt(2) for every pair, as `margin_bound`
    takes it)."""
    if kernel is None:
        return 2.0 ** 0.5 * ops.ones_like(logits)
    kernel = ops.convert_to_tensor(kernel)
    w_label = ops.transpose(ops.take(kernel, labels, axis=1))  # (N, d)
    squares = ops.sum(ops.square(kernel[None, :, :] - w_label[:, :, None]), axis=1)
    positive = squares > 0  # the pair (y, y): a safe square root keeps its gradient 0, not 0 * inf
    return ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), 0.0)
