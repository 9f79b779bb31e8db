"""The differentiable Lipschitz estimate of Lipschitz-margin training: after enough power-iteration steps it equals the
sound mode's constant (computed by dense and FFT SVDs in float64), its gradient is the closed form u v^T of a spectral
norm or the finite difference of the sound rule, and layers without a differentiable rule are refused by name."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator
from kerobust.bounds.lipschitz.convolution import kernel_lipschitz
from kerobust.bounds.rules import layer_lipschitz
from kerobust.bounds.lipschitz.trainable_lipschitz import TrainableLipschitz
from kerobust.errors import KerobustError
from kerobust.layers import ConvNorm
from kerobust.models import build_model

pytestmark = pytest.mark.smoke


def _gradient(fn, variable):
    """d fn() / d variable, on either backend (JAX: through a stateless scope that maps the variable)."""
    if keras.backend.backend() == "jax":
        import jax

        def of(value):
            with keras.StatelessScope(state_mapping=[(variable, value)]):
                return fn()

        return np.asarray(jax.grad(of)(variable.value))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = fn()
    return np.asarray(tape.gradient(value, variable.value))


def _mixed_convolutions():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((9, 9, 4))
    x = keras.layers.Conv2D(6, 3, strides=(2, 1), padding="valid", activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", dilation_rate=2, groups=2)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(7, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("build", [
    lambda: build_model("certcnn", (8, 8, 1), 10, 0.3, 0.2, width=1),
    _mixed_convolutions,
], ids=["certcnn", "strided-dilated-grouped"])
def test_the_converged_estimate_equals_the_sound_constant(build):
    model = build()
    estimate = float(TrainableLipschitz(model, warm_iterations=600).lipschitz(1))
    assert estimate == pytest.approx(BoundEvaluator(model, "sound", jit=False).lipschitz, rel=1e-4)


@pytest.mark.slow_on_jax
def test_batch_norm_enters_unfolded_so_the_estimate_is_never_below_the_certified_constant():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 3, padding="same")
    norm = keras.layers.BatchNormalization(gamma_initializer=keras.initializers.RandomUniform(0.2, 3.0))
    relu = keras.layers.ReLU()
    x = relu(norm(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(x)))
    norm.moving_variance.assign(np.random.default_rng(0).uniform(0.5, 2.0, 3))
    estimate = float(TrainableLipschitz(model, warm_iterations=600).lipschitz(1))
    unfolded = layer_lipschitz(conv) * layer_lipschitz(norm)
    assert estimate == pytest.approx(unfolded, rel=1e-4)
    assert estimate >= BoundEvaluator(model, "sound", jit=False).lipschitz * (1 - 1e-5)


def test_the_dense_gradient_is_the_outer_product_of_the_top_singular_vectors():
    """d ||W||_2 / dW = u_1 v_1^T for a simple top singular value (W = U S V^T with W acting as x W)."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(4)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden(inputs)))
    estimate = TrainableLipschitz(model, warm_iterations=300)
    kernel = np.asarray(hidden.kernel, "float64")
    left, _, right = np.linalg.svd(kernel)
    expected = np.outer(left[:, 0], right[0])

    gradient = _gradient(lambda: estimate.lipschitz(1), hidden.kernel)
    np.testing.assert_allclose(gradient, expected, atol=1e-4)


@pytest.mark.slow_on_jax
def test_the_convolution_gradient_matches_finite_differences_of_the_sound_rule():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 3, strides=2, padding="same")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(conv(inputs))))
    estimate = TrainableLipschitz(model, warm_iterations=500)
    kernel = np.asarray(conv.kernel, "float64")
    direction = np.random.default_rng(5).normal(size=kernel.shape)

    def sound(k):
        return kernel_lipschitz(k, (6, 6), (2, 2), "same")

    step = 1e-4
    finite = (sound(kernel + step * direction) - sound(kernel - step * direction)) / (2 * step)

    gradient = _gradient(lambda: estimate.lipschitz(1), conv.kernel)
    assert float(np.sum(gradient * direction)) == pytest.approx(finite, rel=1e-3)


def test_the_power_vectors_persist_between_calls():
    model = build_model("certcnn", (8, 8, 1), 10, 0.0, 1.0, width=1)
    estimate = TrainableLipschitz(model, warm_iterations=0)
    before = [np.asarray(v).copy() for v in estimate.vectors]
    first = float(estimate.lipschitz(1))
    assert all(not np.allclose(a, np.asarray(v)) for a, v in zip(before, estimate.vectors))
    later = [float(estimate.lipschitz(1)) for _ in range(30)][-1]
    assert first <= later * (1 + 1e-6)  # power iteration climbs towards the norm from below


@pytest.mark.parametrize("layer", [lambda: ConvNorm(2, 3), lambda: keras.layers.DepthwiseConv2D(3)],
                         ids=["convnorm", "depthwise"])
def test_layers_without_a_differentiable_rule_are_refused_by_name(layer):
    inputs = keras.Input((6, 6, 2))
    odd = layer()
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(odd(inputs))))
    with pytest.raises(KerobustError, match=odd.name):
        TrainableLipschitz(model)
