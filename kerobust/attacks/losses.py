"""Losses that attacks maximise, summed over the batch (so the input gradient is per-sample)."""

import keras
from keras import ops


def outputs_are_logits(model):
    """True unless the model's last layer ends in a softmax (then its outputs are probabilities)."""
    last = model.layers[-1] if getattr(model, "layers", None) else model
    activation = getattr(last, "activation", None)
    if activation is None and isinstance(last, keras.layers.Softmax):
        return False
    return activation is not keras.activations.softmax


def cross_entropy(from_logits=True):
    """Summed sparse categorical cross-entropy `loss(y, outputs)`.

    Labels may be integer class ids (shape [batch]) or one-hot rows.
    """

    def loss(y, outputs):
        outputs = ops.cast(outputs, "float32")
        if len(y.shape) == len(outputs.shape):
            return ops.sum(keras.losses.categorical_crossentropy(y, outputs, from_logits=from_logits))
        return ops.sum(keras.losses.sparse_categorical_crossentropy(y, outputs, from_logits=from_logits))

    return loss


def margin(from_logits=True):
    """Summed Carlini-Wagner margin `max_{j != y} z_j - z_y` (on log-probabilities when outputs are probabilities).

    Reference: Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", eq. (f6).
    """

    def loss(y, outputs):
        z = ops.cast(outputs, "float32")
        if not from_logits:
            z = ops.log(ops.clip(z, 1e-12, 1.0))
        classes = z.shape[-1]
        onehot = y if len(y.shape) == len(z.shape) else ops.one_hot(ops.cast(y, "int32"), classes)
        true_logit = ops.sum(z * onehot, axis=-1)
        other = ops.max(z - 1e9 * onehot, axis=-1)
        return ops.sum(other - true_logit)

    return loss


LOSSES = {"ce": cross_entropy, "margin": margin}


def targeted_margin(from_logits=True):
    """Summed targeted margin `z_t - z_y` for labels given as pairs `[y, t]` (shape [batch, 2]).

    Reference: Carlini & Wagner 2017, eq. (f6) with a fixed target; the targeted attacks of Croce & Hein 2020
    (APGD-T) use the same idea over the top-k classes.
    """

    def loss(pairs, outputs):
        z = ops.cast(outputs, "float32")
        if not from_logits:
            z = ops.log(ops.clip(z, 1e-12, 1.0))
        pairs = ops.cast(pairs, "int32")
        classes = z.shape[-1]
        true_logit = ops.sum(z * ops.one_hot(pairs[:, 0], classes), axis=-1)
        target_logit = ops.sum(z * ops.one_hot(pairs[:, 1], classes), axis=-1)
        return ops.sum(target_logit - true_logit)

    return loss
