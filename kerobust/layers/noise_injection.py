"""Randomised layers: Gaussian noise on the input at inference, and parametric (trainable) noise on weights.

References: Araujo et al. 2020, "Advocating for Multiple Defense Strategies against Adversarial Examples" and Bigaud,
Papereux & Rolland (2021), "Adversarial training for image classification" (the BIPARO report), section 3.2.1
(noise injection at predict); Rakin, He & Fan 2018, "Parametric Noise Injection: Trainable Randomness to Improve Deep
Neural Network Robustness against Adversarial Attack", eq. (1)-(3) (the BIPARO report, section 3.2.2).

Both layers stay random at test time. An honest attack on them averages gradients over noise draws (expectation
over transformation, Athalye et al. 2018: `eot_samples` of kerobust's gradient attacks). Every gradient an attack
takes sees a fresh draw: on TensorFlow each model call advances the state; on JAX the state is an input of the
compiled function, so the oracle moves each noise layer's seed per draw index, and `Attack` advances the state
afterwards so the scoring call draws anew. In JAX training steps the attack and the update share one draw.
"""

from __future__ import annotations

import math
import random
from typing import Any, Iterator

import keras
from keras import ops

from kerobust import backend
from kerobust.catalog import NOISE_GRANULARITIES as GRANULARITIES
from kerobust.errors import unknown_name
from kerobust.types import Tensor


def is_random_at_inference(layer: keras.layers.Layer) -> bool:
    """True for kerobust's noise layers that draw noise at inference (input noise, enabled parametric noise)."""
    return getattr(layer, "noise_enabled", False) or isinstance(layer, GaussianNoiseInjection)


def random_layers(model: keras.Model) -> list[str]:
    """The names of `model`'s layers (nested ones included) that draw noise at inference: a model with any is a
    randomised defence, to attack with expectation over transformation."""
    return [layer.name for layer in all_layers(model) if is_random_at_inference(layer)]


def all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model`, nested models' layers included, depth first (through the public `Model.layers`)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def _add_noise_state(layer, seed):
    """The layer's random state as its own non-trainable weight `[seed, counter]`, so saving the layer saves it and
    a reloaded copy continues the same noise stream (a `keras.random.SeedGenerator` is not saved with the layer)."""
    seed = random.randrange(2**31 - 1) if seed is None else int(seed)
    return layer.add_weight(
        name="noise_state", shape=(2,), dtype="int32", initializer=keras.initializers.Constant([seed, 0]),
        trainable=False
    )


def _advance(state):
    """Moves a noise state's counter on by one; returns the state before the move."""
    seed = ops.convert_to_tensor(state)
    state.assign(seed + ops.convert_to_tensor([0, 1], dtype="int32"))
    return seed


def advance_noise_states(model: keras.Model) -> None:
    """Moves every noise layer of `model` on to a fresh draw (after a compiled call that could not update them)."""
    for variable in model.non_trainable_variables:
        if variable.path.endswith("noise_state"):
            _advance(variable)


def _standard_normal(shape, state):
    """Standard normal noise for this call from the layer's state; advances the state's counter."""
    return backend.normal(shape, _advance(state))


@keras.saving.register_keras_serializable(package="kerobust")
class GaussianNoiseInjection(keras.layers.Layer):
    """Adds N(0, stddev^2) noise to its input in training and at inference (unlike `keras.layers.GaussianNoise`).

    Args:
        stddev: noise standard deviation, in the units of the input (pixels of [0, 1] images when first).
        enabled: switch; when False the layer is the identity.
        seed: seed of the layer's noise generator.

    Reference: the BIPARO report, section 3.2.1: the model predicts f(x + eta), eta ~ N(0, stddev^2 I).
    """

    def __init__(self, stddev: float, enabled: bool = True, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"GaussianNoiseInjection stddev must be >= 0, got {stddev!r}.")
        self.stddev = float(stddev)
        self.enabled = bool(enabled)
        self.seed = seed

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.noise_state = _add_noise_state(self, self.seed)

    def call(self, inputs: Tensor) -> Tensor:
        if not self.enabled or self.stddev == 0:
            return inputs
        return inputs + self.stddev * ops.cast(_standard_normal(ops.shape(inputs), self.noise_state), inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(stddev=self.stddev, enabled=self.enabled, seed=self.seed)
        return config


class _ParametricNoise:
    """Mixin placed before `Conv2D` / `Dense`: a trainable scale `alpha` and the noisy kernel
    W + alpha * N(0, std(W)^2) (no gradient into the noise), saved and configured with the layer.

    Args:
        granularity: "layerwise" (one scale), "channelwise" (one per output channel) or "elementwise".
        initial_scale: initial alpha (0.25 in the reference).
        noise_enabled: switch; when False the layer is the plain Keras layer.
        seed: seed of the noise generator.
        *args, **kwargs: as for the Keras layer.
    """

    def __init__(self, *args, granularity="channelwise", initial_scale=0.25, noise_enabled=True, seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        if granularity not in GRANULARITIES:
            raise unknown_name("noise granularity", granularity, GRANULARITIES)
        self.granularity = granularity
        self.initial_scale = float(initial_scale)
        self.noise_enabled = bool(noise_enabled)
        self.seed = seed

    def build(self, input_shape):
        super().build(input_shape)
        shape = {"layerwise": (), "channelwise": (self.kernel.shape[-1],), "elementwise": tuple(self.kernel.shape)}
        self.noise_scale = self.add_weight(
            name="noise_scale", shape=shape[self.granularity],
            initializer=keras.initializers.Constant(self.initial_scale)
        )
        self.noise_state = _add_noise_state(self, self.seed)

    def noisy_kernel(self):
        """The kernel with this call's noise; the plain kernel when noise is switched off."""
        kernel = self.kernel
        if not self.noise_enabled:
            return kernel
        size = math.prod(kernel.shape)
        std = ops.stop_gradient(ops.std(kernel) * math.sqrt(size / max(size - 1, 1)))  # unbiased, as torch.std
        noise = ops.stop_gradient(_standard_normal(kernel.shape, self.noise_state)) * std
        return kernel + self.noise_scale * noise

    def _finish(self, outputs):
        """Bias and activation, as the Keras layer would add them."""
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)

    # Dense and Conv2D save their variables by position (for quantisation); the noise scale and the random state go
    # under their own keys.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store["noise_scale"] = self.noise_scale
            store["noise_state"] = self.noise_state

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.built:
            self.noise_scale.assign(store["noise_scale"])
            self.noise_state.assign(store["noise_state"])

    def get_config(self):
        return {
            **super().get_config(), "granularity": self.granularity, "initial_scale": self.initial_scale,
            "noise_enabled": self.noise_enabled, "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerobust")
class NoisyConv2D(_ParametricNoise, keras.layers.Conv2D):
    """`Conv2D` with parametric noise injection on its kernel, on in training and at test time.

    Takes `Conv2D`'s arguments and `granularity`, `initial_scale`, `noise_enabled`, `seed` (see `_ParametricNoise`).
    The scale's variable is named `noise_scale`; kerobust's optimizers exclude it from weight decay.

    Reference: Rakin et al. 2018, eq. (2): W~ = W + alpha * eta, eta ~ N(0, std(W)^2) (std over all weights of
    the layer, unbiased as in the reference code).
    """

    def call(self, inputs: Tensor) -> Tensor:
        return self._finish(self.convolution_op(inputs, self.noisy_kernel()))


@keras.saving.register_keras_serializable(package="kerobust")
class NoisyDense(_ParametricNoise, keras.layers.Dense):
    """`Dense` with parametric noise injection on its kernel (see `NoisyConv2D`).

    Reference: Rakin et al. 2018, eq. (2).
    """

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return self._finish(ops.matmul(inputs, self.noisy_kernel()))
