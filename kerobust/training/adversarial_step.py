"""The adversarial training step, written once for every backend above two primitives of `kerobust.backend`:
`training_oracle(model, loss_fn)` (input gradients in inference mode, for the attack that builds the batch),
`loss_and_gradients(model, x_of, extra, y, sample_weight)` (the training loss and its gradients with respect to the
weights and, for free training, the perturbation) and `apply_gradients(model, grads)` (the optimizer step). On JAX
the whole step runs inside a `keras.StatelessScope`, so the same variable reads and assignments stay stateless.

Two shapes of step, chosen by the training method:
* `attack` methods build a training batch first (attacks run in inference mode), then take one optimizer step;
* `replay` methods (free training; Shafahi et al. 2019, Algorithm 1) replay the batch m times; each replay's single
  backward pass gives both the weight gradients and the gradient for the persistent perturbation.

Norm decay (Algorithm 1 of Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness")
needs no line here: it is a loss term of `AdversarialModel.call`. Adversarial weight perturbation (Wu et al. 2020)
wraps the loss's gradient in `AdversarialWeightPerturbation.applied`, which holds the perturbed weights.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from keras import ops

from kerobust import backend
from kerobust.seeds import seed_pair
from kerobust.types import Tensor
from kerobust.untracked import Untracked

if TYPE_CHECKING:
    import keras


def training_seed(model: keras.Model) -> Tensor:
    """The attack's int32 seed pair for this step: the method's seed and the optimizer's step counter."""
    return seed_pair(model.method.seed, model.optimizer.iterations)


def adversarial_train_step(model: keras.Model, data: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
    """One training step of `model` (an `AdversarialModel`) on `data`; returns the logs."""
    import keras

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if model.method.kind == "replay":
        return _replay_step(model, x, y, sample_weight)
    oracle = backend.training_oracle(model, model.method.loss_fn)
    x_train, y_train, sample_weight = model.method.training_batch(oracle, x, y, sample_weight, training_seed(model),
                                                                  model.optimizer.iterations)
    # Read here, where every backend's step sees the optimizer's state: Keras's JAX loss function maps only the
    # weights, so `compute_loss` would read a stale counter there (`AdversarialModel.loss_step`).
    model.loss_step = Untracked(ops.convert_to_tensor(model.optimizer.iterations))
    perturbation = model.weight_perturbation
    with (contextlib.nullcontext() if perturbation is None
          else perturbation.applied(model, x_train, y_train, sample_weight)):
        loss, y_pred, grads, _ = backend.loss_and_gradients(model, lambda _: x_train, None, y_train, sample_weight)
    model.loss_step = Untracked(None)
    backend.apply_gradients(model, grads)
    return _record(model, loss, x_train, y_train, y_pred, sample_weight)


def _replay_step(model, x, y, sample_weight):
    method = model.method
    n = ops.shape(x)[0]
    full = ops.convert_to_tensor(model.perturbation)
    delta = full[:n]
    logs = None
    for _ in range(method.replays):
        scale = method.radius_scale(model.optimizer.iterations)
        x_adv = method.perturbed_input(x, delta)
        loss, y_pred, grads, delta_grad = backend.loss_and_gradients(
            model, lambda d: method.perturbed_input(x, d), delta, y, sample_weight
        )
        backend.apply_gradients(model, grads)
        logs = _record(model, loss, x_adv, y, y_pred, sample_weight)
        delta = method.update_perturbation(delta, delta_grad, scale, x)
    model.perturbation.assign(ops.slice_update(full, [0] * len(delta.shape), delta))
    return logs


def _record(model, loss, x, y, y_pred, sample_weight):
    """Updates the loss metric (the one `fit` reports as `loss`, found among `model.metrics` as Keras's guide to a
    custom `train_step` does) and the compiled metrics. Under `tf.distribute` each replica's loss is divided by the
    replica count (so that summed gradients average); the metric gets it undone, as in Keras's own `train_step`."""
    replicas = backend.replicas_in_sync()
    loss = loss if replicas == 1 else loss * ops.cast(replicas, loss.dtype)
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss, sample_weight=ops.shape(x)[0])
            break
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
