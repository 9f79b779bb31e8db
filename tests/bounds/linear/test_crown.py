"""CROWN against ground truth: an exact mixed-integer verifier (SciPy's HiGHS) on tiny dense and convolutional ReLU
networks, the closed-form distance of a linear model in l2, the exact margin at eps = 0 on the zoo's layers, sampled
points of the ball, and IBP where theory orders the two."""

import keras
import numpy as np
import pytest

from kerobust.bounds.linear.crown import CrownBounds
from kerobust.bounds.linear.interval import IntervalBounds
from kerobust.errors import KerobustError
from tests.bounds.tiny_networks import conv_net, dense_net, exact_worst_margin, zoo_net

pytestmark = pytest.mark.smoke


def _margins(model, x, y):
    logits = np.asarray(model(x, training=False)).astype("float64")
    classes = logits.shape[1]
    gaps = logits[np.arange(len(y)), y][:, None] - logits
    return np.where(np.eye(classes, dtype=bool)[y], np.inf, gaps).min(axis=1)


@pytest.mark.slow_on_jax
def test_a_network_without_unstable_relus_is_bounded_exactly():
    """test_interval's hand example: no ReLU is unstable, so the relaxation is the network itself and CROWN gives
    the exact minimum 2 x0 + x1 - 0.5 at (0.4, 0.1) = 0.4, where IBP gives 0.2."""
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(2, activation="relu", kernel_initializer=keras.initializers.Constant([[1, -1], [2, 1]]),
                           bias_initializer=keras.initializers.Constant([0, 0.5])),
        keras.layers.Dense(2, kernel_initializer="identity", bias_initializer="zeros"),
    ])
    x, y = np.array([[0.5, 0.2]]), np.array([0])
    for intermediate in ("crown", "ibp"):
        np.testing.assert_allclose(CrownBounds(model, intermediate=intermediate, jit=False)(x, y, 0.1), [0.4],
                                   atol=1e-6)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("network", ["dense-0", "dense-1", "dense-2", "conv-0", "conv-1"])
def test_no_bound_exceeds_the_exact_margin_of_a_mixed_integer_program(network):
    kind, seed = network.split("-")
    model, weights = dense_net([3, 6, 5, 3], int(seed)) if kind == "dense" else conv_net(int(seed))
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(100 + int(seed)).uniform(0, 1, size=(6,) + shape).astype("float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    full, crown_ibp, ibp = CrownBounds(model), CrownBounds(model, intermediate="ibp"), IntervalBounds(model)
    gaps = {"crown": [], "ibp": []}  # exact - bound at eps 0.1
    for eps in (0.0, 0.02, 0.1):
        bounds = {name: f(x, y, eps) for name, f in (("crown", full), ("crown-ibp", crown_ibp), ("ibp", ibp))}
        for i in range(len(x)):
            exact = exact_worst_margin(weights, x[i].reshape(-1).astype("float64"), int(y[i]), eps)
            for name, bound in bounds.items():
                assert bound[i] <= exact + 1e-4, (name, eps, i, bound[i], exact)
            if eps == 0:
                np.testing.assert_allclose(bounds["crown"][i], exact, atol=1e-4)
            if eps == 0.1:
                for name in gaps:
                    gaps[name].append(exact - bounds[name][i])
    assert np.mean(gaps["crown"]) < 0.75 * np.mean(gaps["ibp"]) + 1e-6  # CROWN is tighter on average


@pytest.mark.slow_on_jax
def test_one_relu_layer_with_zero_lower_slopes_is_at_least_as_tight_as_ibp():
    """With one ReLU layer the interval of its input is exact, and the lines 0 <= relu(z) <= chord, concretised one
    neuron at a time, give back IBP's [relu(l), relu(u)]; a joint concretisation can only be larger. So CROWN with
    zero lower slopes >= IBP at every point (adaptive slopes can be looser on a point)."""
    for seed in range(3):
        model, _ = dense_net([5, 16, 4], seed)
        x = np.random.default_rng(seed).uniform(0, 1, size=(64, 5)).astype("float32")
        y = np.argmax(np.asarray(model(x)), axis=1)
        for eps in (0.05, 0.2):
            crown = CrownBounds(model, lower_slope="zero")(x, y, eps)
            ibp = IntervalBounds(model)(x, y, eps)
            assert np.all(crown >= ibp - 1e-5)
            assert np.mean(crown > ibp + 1e-4) > 0.2  # and strictly tighter on many points


def test_l2_on_a_linear_model_is_the_exact_distance_to_the_boundary():
    """For logits W x + b the worst margin over the l2 ball (inside the box) is min_c m_c - eps ||w_y - w_c||."""
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 4)), rng.normal(size=4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(
        4, kernel_initializer=keras.initializers.Constant(w), bias_initializer=keras.initializers.Constant(b))])
    x = rng.uniform(0.4, 0.6, size=(10, 6)).astype("float32")
    y = np.argmax(x @ w + b, axis=1)
    eps = 0.05
    logits = x.astype("float64") @ w + b
    exact = np.array([min(logits[i, y[i]] - logits[i, c] - eps * np.linalg.norm(w[:, y[i]] - w[:, c])
                          for c in range(4) if c != y[i]) for i in range(10)])
    np.testing.assert_allclose(CrownBounds(model, norm="l2")(x, y, eps), exact, rtol=1e-4, atol=1e-5)
    assert np.all(IntervalBounds(model, norm="l2")(x, y, eps) < exact - 1e-3)  # the box is looser


@pytest.mark.slow_on_jax
def test_l2_bounds_lie_below_sampled_points_of_the_ball_and_above_the_enclosing_box():
    model, _ = dense_net([6, 12, 12, 3], 4)
    x = np.random.default_rng(1).uniform(0, 1, size=(32, 6)).astype("float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    bounds = CrownBounds(model, norm="l2")(x, y, 0.1)
    assert np.all(bounds >= CrownBounds(model)(x, y, 0.1) - 1e-5)  # the box of radius eps contains the ball
    rng = np.random.default_rng(0)
    for _ in range(50):
        direction = rng.normal(size=x.shape)
        point = np.clip(x + 0.1 * direction / np.linalg.norm(direction, axis=1, keepdims=True), 0, 1)
        assert np.all(bounds <= _margins(model, point.astype("float32"), y) + 1e-5)


@pytest.mark.slow_on_jax
def test_exact_at_eps_0_and_below_every_sampled_corner_on_the_zoo_layers():
    """Conv, batch norm, residual Add, max and average pooling, tanh, normalisation, Dropout (`zoo_net`)."""
    model = zoo_net()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(16, 8, 8, 1)).astype("float32")
    y = np.argmax(np.asarray(model(x, training=False)), axis=1)
    margins = _margins(model, x, y)
    for intermediate in ("crown", "ibp"):
        evaluator = CrownBounds(model, intermediate=intermediate)
        np.testing.assert_allclose(evaluator(x, y, 0.0), margins, rtol=1e-4, atol=1e-4)
        bounds = evaluator(x, y, 0.03)
        assert np.all(bounds < margins)
        for _ in range(20):
            corner = np.clip(x + 0.03 * rng.choice([-1.0, 1.0], size=x.shape), 0, 1).astype("float32")
            assert np.all(bounds <= _margins(model, corner, y) + 1e-5)
    assert np.mean(CrownBounds(model)(x, y, 0.01)) > np.mean(IntervalBounds(model)(x, y, 0.01))


@pytest.mark.slow_on_jax
def test_max_pooling_windows_with_a_decided_maximum_are_linear():
    """Pooling of 2x2 windows on an input that one pixel per window dominates: the bound is the exact minimum of a
    linear function, reached at a corner, and matches brute force over all 2^16 corners."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    pooled = keras.layers.MaxPooling2D(2)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(pooled))
    model = keras.Model(inputs, outputs)
    x = np.full((1, 4, 4, 1), 0.1, "float32")
    x[0, ::2, ::2, 0] = 0.9  # the top-left pixel of each window
    y = np.argmax(np.asarray(model(x)), axis=1)
    bound = CrownBounds(model)(x, y, 0.05)
    corners = np.array(np.meshgrid(*[[-1.0, 1.0]] * 16)).reshape(16, -1).T.reshape(-1, 4, 4, 1)
    points = np.clip(x + 0.05 * corners, 0, 1).astype("float32")
    np.testing.assert_allclose(bound, _margins(model, points, np.repeat(y, len(points))).min(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("arch, options", [("wrn", {"depth": 10, "k": 1, "norm": "bn"}), ("basicnet", {"width": 2}),
                                           ("lenet5", {}), ("resnet20", {"norm": "bn"})])
def test_the_zoo_is_bounded_exactly_at_eps_0(arch, options, digits):
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(arch, digits.input_shape, 10, digits.mean, digits.std, **options)
    x = digits.x_test[:4]
    y = np.argmax(np.asarray(model(x, training=False)), axis=1)
    margins = _margins(model, x, y)
    evaluator = CrownBounds(model, intermediate="ibp")
    np.testing.assert_allclose(evaluator(x, y, 0.0), margins, rtol=1e-3, atol=1e-4)
    assert np.all(evaluator(x, y, 0.01) <= margins + 1e-5)


@pytest.mark.slow_on_jax
def test_conv_norm_is_bounded_by_crown_and_refused_by_ibp():
    from kerobust.layers import ConvNorm

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    x = ConvNorm(3, 3, name="convnorm")(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    points = np.random.default_rng(0).uniform(0, 1, size=(8, 6, 6, 1)).astype("float32")
    y = np.argmax(np.asarray(model(points, training=False)), axis=1)
    evaluator = CrownBounds(model)
    np.testing.assert_allclose(evaluator(points, y, 0.0), _margins(model, points, y), rtol=1e-3, atol=1e-4)
    bounds = evaluator(points, y, 0.02)
    rng = np.random.default_rng(1)
    for _ in range(10):
        corner = np.clip(points + 0.02 * rng.choice([-1.0, 1.0], size=points.shape), 0, 1).astype("float32")
        assert np.all(bounds <= _margins(model, corner, y) + 1e-5)
    with pytest.raises(KerobustError, match="no IBP / CROWN rule for layer 'convnorm'"):
        IntervalBounds(model)
    with pytest.raises(KerobustError, match="'convnorm'"):
        CrownBounds(model, intermediate="ibp")


def test_refusals_name_the_layer():
    from kerobust.layers import GaussianNoiseInjection, LocalResponseNormalization

    for layer, message in ((LocalResponseNormalization(name="lrn"), "no IBP / CROWN rule for layer 'lrn'"),
                           (GaussianNoiseInjection(0.1, name="noise"), "'noise' is random at inference"),
                           (keras.layers.Activation("gelu", name="gelu"), "not 'gelu' \\(layer 'gelu'\\)")):
        model = keras.Sequential([keras.Input((4, 4, 2)), layer, keras.layers.Flatten(), keras.layers.Dense(3)])
        with pytest.raises(KerobustError, match=message):
            CrownBounds(model, jit=False)
    with pytest.raises(KerobustError, match="unknown intermediate bound"):
        CrownBounds(model, intermediate="lp")


@pytest.mark.slow_on_jax
def test_an_undecided_max_pooling_window_is_bounded_soundly():
    """margin = x0 - max(x) + 1 over one 2x2 window around (0.5, 0.48, 0.4, 0.4), eps 0.05: x0's lower bound is the
    largest, but x1 can exceed x0, so the true minimum is 0.45 - 0.53 + 1 = 0.92; the rule's upper line is the
    constant max u = 0.55, giving 0.45 - 0.55 + 1 = 0.90 (treating the window as decided by x0 would claim 1)."""
    inputs = keras.Input((2, 2, 1))
    pooled = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(inputs))
    features = keras.layers.Concatenate()([pooled, keras.layers.Flatten()(inputs)])  # max, x0, x1, x2, x3
    kernel = np.zeros((5, 2), "float32")
    kernel[0, 0], kernel[1, 0] = -1.0, 1.0
    outputs = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(kernel),
                                 bias_initializer=keras.initializers.Constant([1.0, 0.0]))(features)
    model = keras.Model(inputs, outputs)
    x = np.array([0.5, 0.48, 0.4, 0.4], "float32").reshape(1, 2, 2, 1)
    bound = CrownBounds(model)(x, np.array([0]), 0.05)
    grid = np.stack(np.meshgrid(*[np.linspace(-0.05, 0.05, 5)] * 4), -1).reshape(-1, 2, 2, 1)
    sampled = _margins(model, (x + grid).astype("float32"), np.zeros(len(grid), int)).min()
    np.testing.assert_allclose(sampled, 0.92, atol=1e-6)
    np.testing.assert_allclose(bound, [0.90], atol=1e-6)
