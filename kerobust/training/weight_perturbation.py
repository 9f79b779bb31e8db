"""Adversarial weight perturbation (AWP): each optimizer step takes the gradient of the training loss at weights
pushed, layer by layer, up the loss by a fixed share of their norm.

Reference: Wu, Xia & Wang 2020, "Adversarial Weight Perturbation Helps Robust Generalization", eq. (9)-(10) and
Algorithm 1: on the adversarial batch, v_l = gamma ||w_l|| g_l / ||g_l|| for each layer l, g = the gradient of the
training loss at w (one ascent step, scaled to the layer's norm as the authors' code does; only the weights of two
or more dimensions, not biases nor normalisation scales), then the optimizer step uses the gradient at w + v and v is
removed (the step is taken from w, not w + v: identical for SGD, and decoupled weight decay reads w).
gamma 5e-3 for PGD-AT and TRADES on CIFAR-10.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from keras import ops

from kerobust import backend
from kerobust.training.method_rules import AWP_GAMMA
from kerobust.types import Tensor

if TYPE_CHECKING:
    import keras

_TINY = 1e-20


def relative_perturbation(weights: Tensor, gradient: Tensor, gamma: float) -> Tensor:
    """gamma ||w|| g / ||g|| (Frobenius norms): the layer's share of the weight perturbation."""
    return gamma * ops.sqrt(ops.sum(ops.square(weights))) * gradient / (ops.sqrt(ops.sum(ops.square(gradient)))
                                                                      + _TINY)


@dataclasses.dataclass(frozen=True)
class AdversarialWeightPerturbation:
    """AWP of relative size `gamma`, for `AdversarialModel` (any method whose step builds one training batch)."""

    gamma: float = AWP_GAMMA

    @contextlib.contextmanager
    def applied(self, model: keras.Model, x: Tensor, y: Tensor, sample_weight: Tensor | None) -> Iterator[None]:
        """Within the block the model's perturbed weights hold w + v for the batch `(x, y)`; they return to w after.

        The pass that finds v leaves no trace: batch-norm statistics, noise states, norm-decay averages (every
        non-trainable variable) and the metrics are restored."""
        state = list(model.non_trainable_variables) + list(model.metrics_variables)
        saved = [ops.copy(v) for v in state]
        _, _, grads, _ = backend.loss_and_gradients(model, lambda _: x, None, y, sample_weight)
        for variable, value in zip(state, saved):
            variable.assign(value)
        chosen = [(v, g) for v, g in zip(model.trainable_variables, grads) if len(v.shape) > 1 and g is not None]
        originals = [ops.copy(v) for v, _ in chosen]
        for (variable, gradient), weights in zip(chosen, originals):
            variable.assign(weights + relative_perturbation(weights, ops.cast(gradient, weights.dtype), self.gamma))
        try:
            yield
        finally:
            for (variable, _), weights in zip(chosen, originals):
                variable.assign(weights)

    def describe(self) -> str:
        return f"adversarial weight perturbation, gamma {self.gamma:g} (Wu et al. 2020)"
