"""A Keras metric: the share of points classified correctly with a sound bound of at least eps (certified accuracy).

`method="lipschitz"` (the default) needs only the logits, as every Keras metric gets them. `method="ibp"`,
`"crown-ibp"` or `"crown"` bounds the worst margin over the eps-ball around each input, so it needs the inputs: it
works on kerobust's `AdversarialModel` (what `kerobust fit` compiles), whose `compute_metrics` hands them over, and
raises a clear error elsewhere.

The sound bound of a point is its output margin divided by the Lipschitz constant L of the map from the input to the
last linear layer (`BoundEvaluator` in sound mode); the margin only needs the logits the metric receives and the
head's kernel. L and the kernel depend on the weights, so the metric reads them when created and again whenever Keras
resets it: before every `evaluate` after the first and at the start of every `fit` epoch, so values from `evaluate` and
`val_certified_accuracy_*` use the weights being evaluated, while the training value uses the epoch's starting
weights (an estimate).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerobust.bounds.lipschitz.evaluator import BoundEvaluator
from kerobust.bounds.lipschitz.output_margin import margin_bound
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import Tensor
from kerobust.untracked import Untracked

METHODS = ("lipschitz", "ibp", "crown-ibp", "crown")


class CertifiedAccuracy(keras.metrics.Metric):
    """Certified accuracy at radius `eps`, for `compile(metrics=[CertifiedAccuracy(model, 0.1)])`.

    Args:
        model: the classifier being compiled (outputs: logits of a Dense head, or their softmax).
        eps: the radius, in input units.
        method: "lipschitz" (sound mode, l2), or "ibp", "crown-ibp", "crown" (local bounds; need the inputs).
        norm: the threat norm of the local methods ("linf" or "l2").
    """

    def __init__(self, model: keras.Model, eps: float, method: str = "lipschitz", norm: str = "l2",
                 name: str | None = None, **kwargs: Any):
        if method not in METHODS:
            raise unknown_name("certified accuracy method", method, METHODS)
        suffix = "" if method == "lipschitz" else f"_{method}_{norm}"
        super().__init__(name=name or f"certified_accuracy{suffix}_{eps:g}", **kwargs)
        self.eps = float(eps)
        self.method, self.norm = method, norm
        self.certified = self.add_variable(shape=(), initializer="zeros", name="certified")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        self.inputs = Untracked(None)  # the batch's inputs, for local methods (`see_inputs`)
        if method != "lipschitz":
            if keras.backend.backend() == "jax":  # Keras's JAX test step maps only the metric variables
                raise KerobustError(f"CertifiedAccuracy(method={method!r}) reads the model's weights inside the step, "
                                    "which Keras's JAX evaluate does not pass to metrics; use TensorFlow, or "
                                    "kerobust certify.")
            from kerobust.bounds.linear.crown import CrownBounds
            from kerobust.bounds.linear.interval import IntervalBounds

            bounds = (IntervalBounds(model, norm, jit=False) if method == "ibp" else
                      CrownBounds(model, norm, intermediate="crown" if method == "crown" else "ibp", jit=False))
            self.bounds = Untracked(bounds)  # reads the model, does not own it
            self.lipschitz = self.head_kernel = None
            return
        self.evaluator = Untracked(BoundEvaluator(model, "sound", jit=False))  # reads the model, does not own it
        self.lipschitz = self.add_variable(
            shape=(), initializer=keras.initializers.Constant(self.evaluator.value.lipschitz), name="lipschitz"
        )
        head = self.evaluator.value.head.layer
        # A copy of the head's kernel, refreshed with L (on JAX the step cannot read the model's variables).
        self.head_kernel = None if head is None else self.add_variable(
            shape=tuple(head.kernel.shape), initializer=keras.initializers.Constant(ops.convert_to_numpy(head.kernel)),
            name="head_kernel",
        )

    @property
    def reads_inputs(self) -> bool:
        return self.method != "lipschitz"

    def see_inputs(self, x: Tensor) -> None:
        """Hands over the batch's inputs before `update_state` (`AdversarialModel.compute_metrics` does)."""
        self.inputs = Untracked(x)

    def reset_state(self) -> None:
        super().reset_state()
        if self.reads_inputs:
            return
        # Lipschitz mode: `lipschitz` is a variable, and `head_kernel` is one only when the head is a Dense layer.
        self.lipschitz.assign(self.evaluator.value.current_lipschitz())  # type: ignore[union-attr]
        if self.head_kernel is not None:
            kernel = self.evaluator.value.head.layer.kernel  # type: ignore[union-attr]
            self.head_kernel.assign(ops.convert_to_numpy(kernel))  # a copy, not the buffer

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if self.reads_inputs:
            if self.inputs.value is None:
                raise KerobustError(f"CertifiedAccuracy(method={self.method!r}) bounds the ball around each input, "
                                    "which a Keras metric does not see: compile it on kerobust's AdversarialModel.")
            certified = ops.cast(ops.min(ops.where(
                ops.one_hot(labels, y_pred.shape[-1]) > 0, float("inf"),
                self.bounds.value.margin_bounds(self.inputs.value, labels, self.eps)), axis=-1) > 0, "float32")
        else:
            certified = self._lipschitz_certified(labels, y_pred)
        self._count(certified, sample_weight)

    def _lipschitz_certified(self, labels, y_pred):
        head = self.evaluator.value.head.layer
        logits = ops.convert_to_tensor(y_pred)
        if head is not None and getattr(head.activation, "__name__", "") == "softmax":
            logits = ops.log(ops.maximum(logits, 1e-30))  # log-softmax: the same gaps as the logits
        bound = margin_bound(logits, None if head is None else self.head_kernel) / self.lipschitz
        correct = ops.cast(ops.argmax(logits, axis=-1), "int32") == labels
        return ops.cast(ops.logical_and(correct, bound >= self.eps), "float32")

    def _count(self, certified, sample_weight):
        weight = (ops.ones_like(certified) if sample_weight is None
                  else ops.cast(ops.reshape(sample_weight, (-1,)), "float32"))
        self.certified.assign(self.certified + ops.sum(certified * weight))
        self.count.assign(self.count + ops.sum(weight))

    def result(self) -> Tensor:
        return self.certified / ops.maximum(self.count, 1.0)

    def get_config(self) -> dict[str, Any]:
        """Name and eps only: the metric needs its model, so compile a reloaded model with it anew."""
        return {"name": self.name, "eps": self.eps, "method": self.method, "norm": self.norm}
