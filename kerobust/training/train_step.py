"""`AdversarialTrainStep`: the `train_step` of `AdversarialModel` in the signature Keras's trainer of the active
backend calls, around `kerobust.training.adversarial_step` (written once for every backend)."""

from __future__ import annotations

import keras

from kerobust.training.adversarial_step import adversarial_train_step
from kerobust.types import Tensor


class StatefulTrainStep:
    """`train_step(data)` (TensorFlow): the step as it is, reading and assigning the variables."""

    def train_step(self: keras.Model, data: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
        return adversarial_train_step(self, data)


class StatelessTrainStep:
    """`train_step(state, data)` (JAX): the step inside a `keras.StatelessScope` holding the step's state, whose
    final values are the new state."""

    def train_step(self: keras.Model, state: tuple[list[Tensor], ...], data: Tensor | tuple[Tensor, ...]
                   ) -> tuple[dict[str, Tensor], tuple[list[Tensor], ...]]:
        groups = (self.trainable_variables, self.non_trainable_variables, self.optimizer.variables,
                  self.metrics_variables)
        mapping = [(v, value) for variables, values in zip(groups, state) for v, value in zip(variables, values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = adversarial_train_step(self, data)
        return logs, tuple([scope.get_current_value(v) for v in variables] for variables in groups)


AdversarialTrainStep = StatelessTrainStep if keras.backend.backend() == "jax" else StatefulTrainStep
