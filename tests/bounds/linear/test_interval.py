"""Interval bound propagation against ground truth: a hand computation, an exact mixed-integer verifier (SciPy's
HiGHS) on tiny ReLU networks, the exact margin at eps = 0 on the zoo's layers, and sampled points of the ball."""

import keras
import numpy as np
import pytest

from kerobust.bounds.linear.interval import IntervalBounds
from kerobust.errors import KerobustError
from tests.bounds.tiny_networks import dense_net, exact_worst_margin, zoo_net

pytestmark = pytest.mark.smoke


def test_two_layer_network_by_hand():
    """x in [0.4, 0.6] x [0.1, 0.3] (eps 0.1 around (0.5, 0.2)); hidden h = relu(x W1 + b1) with
    W1 = [[1, -1], [2, 1]] (rows: inputs), b1 = [0, 0.5]: pre-activations x0 + 2 x1 in [0.6, 1.2] and
    -x0 + x1 + 0.5 in [0, 0.4] (no ReLU is unstable); logits z = h (identity), label 0: IBP's
    z_0 - z_1 = h_0 - h_1 >= 0.6 - 0.4 = 0.2. The exact minimum, 2 x0 + x1 - 0.5 at (0.4, 0.1), is 0.4: IBP loses the
    correlation of h_0 and h_1."""
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(2, activation="relu", kernel_initializer=keras.initializers.Constant([[1, -1], [2, 1]]),
                           bias_initializer=keras.initializers.Constant([0, 0.5])),
        keras.layers.Dense(2, kernel_initializer="identity", bias_initializer="zeros"),
    ])
    bound = IntervalBounds(model, jit=False)(np.array([[0.5, 0.2]]), np.array([0]), 0.1)
    np.testing.assert_allclose(bound, [0.2], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_bound_exceeds_the_exact_margin_of_a_mixed_integer_program(seed):
    model, weights = dense_net([3, 6, 5, 3], seed)
    rng = np.random.default_rng(100 + seed)
    x = rng.uniform(0, 1, size=(6, 3)).astype("float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    evaluator = IntervalBounds(model)
    tight = 0
    for eps in (0.0, 0.02, 0.1):
        bounds = evaluator(x, y, eps)
        for i in range(len(x)):
            exact = exact_worst_margin(weights, x[i].astype("float64"), int(y[i]), eps)
            assert bounds[i] <= exact + 1e-4, (eps, i, bounds[i], exact)
            tight += abs(bounds[i] - exact) < 1e-3
    assert tight >= len(x)  # at eps = 0 the bound is the exact margin


def test_exact_at_eps_0_and_below_every_sampled_point_of_the_ball():
    model = zoo_net()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(16, 8, 8, 1)).astype("float32")
    logits = np.asarray(model(x, training=False)).astype("float64")
    y = np.argmax(logits, axis=1)

    def margins(z):
        others = np.where(np.eye(10, dtype=bool)[y], np.inf, z[np.arange(len(y)), y][:, None] - z)
        return others.min(axis=1)

    evaluator = IntervalBounds(model)
    np.testing.assert_allclose(evaluator(x, y, 0.0), margins(logits), rtol=1e-4, atol=1e-4)
    bounds = evaluator(x, y, 0.03)
    assert np.all(bounds < margins(logits))
    for _ in range(20):  # corners of the ball (where a ReLU network's extremes lie), clipped to the box
        corner = np.clip(x + 0.03 * rng.choice([-1.0, 1.0], size=x.shape), 0, 1).astype("float32")
        assert np.all(bounds <= margins(np.asarray(model(corner, training=False)).astype("float64")) + 1e-5)
    assert np.all(np.diff([evaluator(x, y, e).mean() for e in (0.0, 0.01, 0.03, 0.1)]) < 0)  # looser with eps


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("arch, options", [("wrn", {"depth": 10, "k": 1, "norm": "bn"}), ("basicnet", {"width": 4}),
                                           ("lenet5", {}), ("resnet20", {"norm": "bn"})])
def test_the_zoo_is_bounded_exactly_at_eps_0(arch, options, digits):
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(arch, digits.input_shape, 10, digits.mean, digits.std, **options)
    x = digits.x_test[:8]
    logits = np.asarray(model(x, training=False)).astype("float64")
    y = np.argmax(logits, axis=1)
    margins = np.where(np.eye(10, dtype=bool)[y], np.inf, logits[np.arange(8), y][:, None] - logits).min(axis=1)
    evaluator = IntervalBounds(model)
    np.testing.assert_allclose(evaluator(x, y, 0.0), margins, rtol=1e-3, atol=1e-4)
    assert np.all(evaluator(x, y, 0.01) <= margins + 1e-5)


@pytest.mark.slow_on_jax
def test_l2_is_bounded_through_its_enclosing_box():
    """The l2 bound is the l-inf bound of the same radius (the enclosing box), and lies below the margin at sampled
    points of the l2 sphere (clipped to the input box, which keeps them in the ball)."""
    model, _ = dense_net([4, 8, 3], 3)
    x = np.full((2, 4), 0.5, "float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    bounds = IntervalBounds(model, norm="l2")(x, y, 0.1)
    np.testing.assert_allclose(bounds, IntervalBounds(model)(x, y, 0.1))
    rng = np.random.default_rng(0)
    for _ in range(50):
        direction = rng.normal(size=x.shape)
        point = np.clip(x + 0.1 * direction / np.linalg.norm(direction, axis=1, keepdims=True), 0, 1)
        logits = np.asarray(model(point.astype("float32"))).astype("float64")
        margins = np.where(np.eye(3, dtype=bool)[y], np.inf, logits[np.arange(2), y][:, None] - logits).min(axis=1)
        assert np.all(bounds <= margins + 1e-5)


def test_a_layer_without_a_rule_is_named():
    from kerobust.layers import GaussianNoiseInjection, LocalResponseNormalization

    for layer, message in ((LocalResponseNormalization(name="lrn"), "no IBP / CROWN rule for layer 'lrn'"),
                           (GaussianNoiseInjection(0.1, name="noise"), "'noise' is random at inference"),
                           (keras.layers.Activation("gelu", name="gelu"), "non-decreasing activation, not 'gelu'")):
        model = keras.Sequential([keras.Input((4, 4, 2)), layer, keras.layers.Flatten(), keras.layers.Dense(3)])
        with pytest.raises(KerobustError, match=message):
            IntervalBounds(model, jit=False)(np.zeros((1, 4, 4, 2)), np.zeros(1), 0.1)
    with pytest.raises(KerobustError, match="unknown threat norm"):
        IntervalBounds(model, norm="l1")


def test_batches_share_one_shape_and_the_padding_is_dropped():
    from kerobust.bounds.linear.interval import batched

    shapes = []

    def margins(x, y, eps):  # a per-row function whose rows can be checked
        shapes.append(x.shape)
        return x.reshape(len(x), -1).sum(axis=1) * eps + y

    x = np.random.default_rng(0).uniform(size=(10, 2, 2, 1)).astype("float32")
    y = np.arange(10, dtype="int32")
    got = batched(margins, x, y, 0.5, batch_size=4)
    np.testing.assert_allclose(got, x.reshape(10, -1).sum(axis=1) * 0.5 + y, rtol=1e-6)
    assert shapes == [(4, 2, 2, 1)] * 3  # 4 + 4 + 2 padded to 4
    shapes.clear()
    assert batched(margins, x[:3], y[:3], 0.5, batch_size=4).shape == (3,) and shapes == [(3, 2, 2, 1)]
