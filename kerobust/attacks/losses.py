"""Losses that attacks maximise, summed over the batch (so the input gradient is per-sample).

Every loss is `loss(y, outputs, per_sample=False)`: the batch sum, or with `per_sample=True` one value per sample.
"""

from __future__ import annotations

import keras
from keras import ops

from kerobust.types import LossFn, Tensor


def outputs_are_logits(model: keras.layers.Layer) -> bool:
    """True unless the model's last layer ends in a softmax (then its outputs are probabilities)."""
    last = model.layers[-1] if getattr(model, "layers", None) else model
    activation = getattr(last, "activation", None)
    if activation is None and isinstance(last, keras.layers.Softmax):
        return False
    return activation is not keras.activations.softmax


def cross_entropy(from_logits: bool = True) -> LossFn:
    """Summed sparse categorical cross-entropy `loss(y, outputs)`.

    Labels may be integer class ids (shape [batch]) or one-hot rows.
    """

    def loss(y, outputs, per_sample=False):
        outputs = ops.cast(outputs, "float32")
        if len(y.shape) == len(outputs.shape):
            values = keras.losses.categorical_crossentropy(y, outputs, from_logits=from_logits)
        else:
            values = keras.losses.sparse_categorical_crossentropy(y, outputs, from_logits=from_logits)
        return values if per_sample else ops.sum(values)

    return loss


def margin(from_logits: bool = True) -> LossFn:
    """Summed Carlini-Wagner margin `max_{j != y} z_j - z_y` (on log-probabilities when outputs are probabilities).

    Reference: Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", eq. (f6).
    """

    def loss(y, outputs, per_sample=False):
        z = _logits(outputs, from_logits)
        classes = z.shape[-1]
        onehot = y if len(y.shape) == len(z.shape) else ops.one_hot(ops.cast(y, "int32"), classes)
        true_logit = ops.sum(z * onehot, axis=-1)
        other = ops.max(z - 1e9 * onehot, axis=-1)
        values = other - true_logit
        return values if per_sample else ops.sum(values)

    return loss


def dlr(from_logits: bool = True) -> LossFn:
    """Summed difference-of-logits ratio `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`, with z sorted decreasingly as
    z_pi1 >= z_pi2 >= ... (needs at least 3 classes). Invariant to shifts and scalings of the logits.

    Reference: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", eq. (6) (the DLR loss of APGD-DLR).
    """

    def loss(y, outputs, per_sample=False):
        z = _logits(outputs, from_logits)
        classes = z.shape[-1]
        if classes < 3:
            raise ValueError(f"the DLR loss needs at least 3 classes, got {classes}.")
        onehot = y if len(y.shape) == len(z.shape) else ops.one_hot(ops.cast(y, "int32"), classes)
        true_logit = ops.sum(z * onehot, axis=-1)
        other = ops.max(z - 1e9 * onehot, axis=-1)
        ordered = ops.sort(z, axis=-1)  # ascending: z_pi1 is the last column
        values = -(true_logit - other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)
        return values if per_sample else ops.sum(values)

    return loss


def kl_divergence(from_logits: bool = True) -> LossFn:
    """Summed Kullback-Leibler divergence `KL(q || p) = sum_k q_k (log q_k - log p_k)` of the model's distribution p
    from reference probabilities `q` (passed as the labels, shape [batch, classes]).

    Reference: Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and Accuracy" (TRADES),
    eq. (5): the inner maximisation of KL(f(x) || f(x')) over x' in the ball, with q = f(x).
    """

    def loss(reference, outputs, per_sample=False):
        values = kl_per_example(reference, _logits(outputs, from_logits))
        return values if per_sample else ops.sum(values)

    return loss


def kl_per_example(reference: Tensor, logits: Tensor) -> Tensor:
    """KL(q || softmax(logits)) for each row, q the reference probabilities (TRADES's and MART's term)."""
    q = ops.cast(reference, "float32")
    log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return ops.sum(q * (ops.log(ops.maximum(q, 1e-30)) - log_p), axis=-1)


LOSSES = {"ce": cross_entropy, "margin": margin, "dlr": dlr}


def negated(loss: LossFn) -> LossFn:
    """`-loss`: ascending it descends `loss` (targeted attacks move towards the given labels)."""

    def wrapped(y, outputs, per_sample=False):
        return -loss(y, outputs, per_sample=per_sample)

    return wrapped


def targeted_margin(from_logits: bool = True) -> LossFn:
    """Summed targeted margin `z_t - z_y` for labels given as pairs `[y, t]` (shape [batch, 2]).

    Reference: Carlini & Wagner 2017, eq. (f6) with a fixed target; the targeted attacks of Croce & Hein 2020
    (APGD-T) use the same idea over the top-k classes.
    """

    def loss(pairs, outputs, per_sample=False):
        z = _logits(outputs, from_logits)
        true_logit, target_logit = _pair_logits(pairs, z)
        values = target_logit - true_logit
        return values if per_sample else ops.sum(values)

    return loss


def targeted_dlr(from_logits: bool = True) -> LossFn:
    """Summed targeted difference-of-logits ratio `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)` for pairs `[y, t]`,
    with z sorted decreasingly as z_pi1 >= z_pi2 >= ... (needs at least 4 classes). Invariant to shifts and scalings
    of the logits.

    Reference: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", eq. (7) (the DLR-targeted loss of APGD-T).
    """

    def loss(pairs, outputs, per_sample=False):
        z = _logits(outputs, from_logits)
        if z.shape[-1] < 4:
            raise ValueError(f"the targeted DLR loss needs at least 4 classes, got {z.shape[-1]}.")
        true_logit, target_logit = _pair_logits(pairs, z)
        ordered = ops.sort(z, axis=-1)  # ascending: z_pi1 is the last column
        scale = ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12
        values = -(true_logit - target_logit) / scale
        return values if per_sample else ops.sum(values)

    return loss


def _logits(outputs, from_logits):
    z = ops.cast(outputs, "float32")
    return z if from_logits else ops.log(ops.clip(z, 1e-12, 1.0))


def _pair_logits(pairs, z):
    pairs = ops.cast(pairs, "int32")
    classes = z.shape[-1]
    return (ops.sum(z * ops.one_hot(pairs[:, 0], classes), axis=-1),
            ops.sum(z * ops.one_hot(pairs[:, 1], classes), axis=-1))
