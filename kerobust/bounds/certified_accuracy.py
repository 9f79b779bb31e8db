"""A Keras metric: the share of points classified correctly with a sound bound of at least eps (certified accuracy).

The sound bound of a point is its output margin divided by the Lipschitz constant L of the map from the input to the
last linear layer (`BoundEvaluator` in sound mode); the margin only needs the logits the metric receives and the
head's kernel. L and the kernel depend on the weights, so the metric reads them when created and again whenever Keras resets it:
before every `evaluate` after the first and at the start of every `fit` epoch, so values from `evaluate` and
`val_certified_accuracy_*` use the weights being evaluated, while the training value uses the epoch's starting
weights (an estimate).
"""

import keras
from keras import ops

from kerobust.bounds.evaluator import BoundEvaluator
from kerobust.bounds.output_margin import margin_bound


class CertifiedAccuracy(keras.metrics.Metric):
    """Certified accuracy at l2 radius `eps` (sound mode), for `compile(metrics=[CertifiedAccuracy(model, 0.1)])`.

    Args:
        model: the classifier being compiled (outputs: logits of a Dense head, or their softmax).
        eps: the l2 radius, in input units.
    """

    def __init__(self, model, eps, name=None, **kwargs):
        super().__init__(name=name or f"certified_accuracy_{eps:g}", **kwargs)
        self.eps = float(eps)
        # Not tracked: the metric reads the model, it does not own it.
        object.__setattr__(self, "_evaluator", BoundEvaluator(model, "sound", jit=False))
        self.lipschitz = self.add_variable(
            shape=(), initializer=keras.initializers.Constant(self._evaluator.lipschitz), name="lipschitz"
        )
        head = self._evaluator.head.layer
        # A copy of the head's kernel, refreshed with L (on JAX the step cannot read the model's variables).
        self.head_kernel = None if head is None else self.add_variable(
            shape=tuple(head.kernel.shape), initializer=keras.initializers.Constant(ops.convert_to_numpy(head.kernel)),
            name="head_kernel",
        )
        self.certified = self.add_variable(shape=(), initializer="zeros", name="certified")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def reset_state(self):
        super().reset_state()
        self.lipschitz.assign(self._evaluator.current_lipschitz())
        if self.head_kernel is not None:
            self.head_kernel.assign(ops.convert_to_numpy(self._evaluator.head.layer.kernel))  # a copy, not the buffer

    def update_state(self, y_true, y_pred, sample_weight=None):
        head = self._evaluator.head.layer
        logits = ops.convert_to_tensor(y_pred)
        if head is not None and getattr(head.activation, "__name__", "") == "softmax":
            logits = ops.log(ops.maximum(logits, 1e-30))  # log-softmax: the same gaps as the logits
        bound = margin_bound(logits, None if head is None else self.head_kernel) / self.lipschitz
        correct = ops.cast(ops.argmax(logits, axis=-1), "int32") == ops.cast(ops.reshape(y_true, (-1,)), "int32")
        certified = ops.cast(ops.logical_and(correct, bound >= self.eps), "float32")
        weight = ops.ones_like(certified) if sample_weight is None else ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
        self.certified.assign(self.certified + ops.sum(certified * weight))
        self.count.assign(self.count + ops.sum(weight))

    def result(self):
        return self.certified / ops.maximum(self.count, 1.0)

    def get_config(self):
        """Name and eps only: the metric needs its model, so compile a reloaded model with it anew."""
        return {"name": self.name, "eps": self.eps}
