"""Top-k correctness of predictions."""

from __future__ import annotations

import numpy as np

from kerobust.types import Array, ArrayLike


def top_k_correct(outputs: ArrayLike, labels: ArrayLike, k: int) -> Array:
    """Boolean per sample: is the true label among the `k` highest outputs (k is capped at the class count)."""
    outputs = np.asarray(outputs)
    k = min(k, outputs.shape[-1])
    top = np.argpartition(-outputs, k - 1, axis=-1)[:, :k]
    return np.any(top == np.asarray(labels)[:, None], axis=-1)
