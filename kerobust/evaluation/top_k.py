"""Top-k correctness of predictions."""

import numpy as np


def top_k_correct(outputs, labels, k):
    """Boolean per sample: is the true label among the `k` highest outputs (k is capped at the class count)."""
    outputs = np.asarray(outputs)
    k = min(k, outputs.shape[-1])
    top = np.argpartition(-outputs, k - 1, axis=-1)[:, :k]
    return np.any(top == np.asarray(labels)[:, None], axis=-1)
