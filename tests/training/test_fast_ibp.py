"""Shi et al.'s (2021) fast IBP training: the initialisation against its closed form (E sum_j |W_ij| = 2), the warm-up
regularisers against interval arithmetic and the formulas written out in NumPy, and their place in the loss."""

import math

import keras
import numpy as np
import pytest

from kerobust.bounds.linear.interval import IntervalBounds, interval_boxes
from kerobust.errors import KerobustError
from kerobust.training import AdversarialModel, build_training_method
from kerobust.training.fast_ibp import ibp_initialize, warmup_regularizer

pytestmark = pytest.mark.smoke

TAU = 0.5


def test_ibp_initialisation_keeps_interval_radii_from_growing_with_the_width():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(50, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(10)])
    head_before = [np.array(w) for w in model.layers[-1].get_weights()]
    biases_before = [np.array(layer.bias) for layer in (model.layers[0], model.layers[2])]
    assert ibp_initialize(model, seed=1) == [model.layers[0].name, model.layers[2].name]
    for layer, fan_in in ((model.layers[0], 3 * 3 * 4), (model.layers[2], 4 * 4 * 50)):
        kernel = np.asarray(layer.kernel).reshape(fan_in, -1)
        assert kernel.std() == pytest.approx(math.sqrt(2 * math.pi) / fan_in, rel=0.03)
        # Shi et al.'s design: each output's radius is sum_j |W_ij| r = 2 r in expectation, halved by the ReLU.
        assert np.abs(kernel).sum(axis=0).mean() == pytest.approx(2.0, rel=0.03)
    for before, after in zip(head_before, model.layers[-1].get_weights()):
        np.testing.assert_array_equal(before, after)
    for before, layer in zip(biases_before, (model.layers[0], model.layers[2])):
        np.testing.assert_array_equal(before, np.asarray(layer.bias))


def _mlp():
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
    for layer in model.layers:
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(size=kernel.shape).astype("float32"),
                           rng.normal(size=bias.shape).astype("float32") * 0.3])
    x = rng.uniform(0.2, 0.8, size=(8, 4)).astype("float32")
    return model, x


def _numpy_regularizer(model, x, eps):
    """Interval arithmetic by hand, then L_tightness and L_relu as Shi et al. define them."""
    lower, upper = np.maximum(x - eps, 0.0).astype("float64"), np.minimum(x + eps, 1.0).astype("float64")
    r0 = ((upper - lower) / 2).mean()
    tightness, balance, states = 0.0, 0.0, []
    for layer in model.layers[:2]:
        kernel, bias = (np.asarray(w, "float64") for w in layer.get_weights())
        centre, radius = (upper + lower) / 2 @ kernel + bias, (upper - lower) / 2 @ np.abs(kernel)
        low, high = centre - radius, centre + radius
        tightness += max(TAU - r0 / radius.mean(), 0.0) / TAU
        active, inactive = low > 0, high < 0
        states.append((active.sum(), inactive.sum()))
        if active.any() and inactive.any():
            mean_ratio = (centre * active).mean() / -(centre * inactive).mean()
            spread = (centre - centre.mean()) ** 2
            var_ratio = (spread * active).sum() / (spread * inactive).sum()
            folded = [min(r, 1 / r) for r in (mean_ratio, var_ratio)]
            balance += sum(max(TAU - f, 0.0) for f in folded) / TAU
        lower, upper = np.maximum(low, 0.0), np.maximum(high, 0.0)
    return (tightness + balance) / 2, states


@pytest.mark.parametrize("eps", [0.02, 0.1])
def test_the_warmup_regularisers_match_their_formulas(eps):
    model, x = _mlp()
    bounds = IntervalBounds(model, jit=False)
    value = float(warmup_regularizer(bounds.graph, interval_boxes(bounds.graph, x, eps, "linf")))
    expected, states = _numpy_regularizer(model, x, eps)
    assert all(a > 0 and i > 0 for a, i in states)  # both ReLU states occur: L_relu is on in every layer
    assert value == pytest.approx(expected, rel=1e-5)
    assert expected > 0.1  # a regulariser that is 0 here would pass nothing


def test_the_regularisers_enter_the_loss_weighted_by_lambda_and_the_remaining_ramp():
    """At mid-ramp (eps_t = eps / 2) the loss with lambda = 0.5 exceeds the loss without by 0.5 * 0.5 * L."""
    model, x = _mlp()
    y = np.arange(len(x)) % 3
    losses = []
    for weight in (0.0, 0.5):
        method = build_training_method("ibp", eps=0.2, warmup_steps=0, ramp_steps=4, warmup_regularizer=weight)
        trainer = AdversarialModel(model, method)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.optimizer.iterations.assign(2)
        losses.append(float(trainer.compute_loss(x=x, y=y, y_pred=model(x), training=True)))
    expected, _ = _numpy_regularizer(model, x, 0.1)
    assert losses[1] - losses[0] == pytest.approx(0.25 * expected, rel=1e-4)
    assert "Shi et al.'s warm-up regularisers, lambda 0.5" in method.describe()


def test_the_regularisers_belong_to_interval_certified_training():
    for name in ("ibp", "crown-ibp", "sabr", "mtl-ibp"):
        assert build_training_method(name, eps=0.1, warmup_regularizer=0.5).warmup_regularizer_weight == 0.5
    with pytest.raises(KerobustError, match="certified training on interval bounds"):
        build_training_method("pgd", eps=0.1, warmup_regularizer=0.5)
