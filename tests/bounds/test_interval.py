"""Interval bound propagation against ground truth: a hand computation, an exact mixed-integer verifier (SciPy's
HiGHS) on tiny ReLU networks, the exact margin at eps = 0 on the zoo's layers, and sampled points of the ball."""

import keras
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from kerobust.bounds.interval import IntervalBounds
from kerobust.errors import KerobustError

pytestmark = pytest.mark.smoke


def _dense_net(sizes, seed):
    rng = np.random.default_rng(seed)
    layers = [keras.Input((sizes[0],))]
    weights = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w, b = rng.normal(size=(n_in, n_out)).astype("float32"), rng.normal(size=n_out).astype("float32") * 0.3
        weights.append((w.astype("float64"), b.astype("float64")))
        last = i == len(sizes) - 2
        layers.append(keras.layers.Dense(n_out, activation=None if last else "relu",
                                         kernel_initializer=keras.initializers.Constant(w),
                                         bias_initializer=keras.initializers.Constant(b)))
    return keras.Sequential(layers), weights


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


def _exact_worst_margin(weights, x, y, eps):
    """min over the l-inf ball in [0, 1]^d and over c != y of z_y - z_c, by a mixed-integer program (big-M ReLUs).

    The big-M constants come from a crude bound independent of IBP: |pre-activation| <= sum |W| * max |input| + |b|."""
    lower_x, upper_x = np.maximum(x - eps, 0), np.minimum(x + eps, 1)
    sizes = [len(x)] + [w.shape[1] for w, _ in weights[:-1]]
    big = [1.0]
    for w, b in weights[:-1]:
        big.append(float(np.abs(w).sum(axis=0).max() * big[-1] + np.abs(b).max()) * 1.01 + 1.0)
    # Variables: x, then per hidden layer (pre z, post a, indicator d).
    offsets, n = [0], sizes[0]
    for size in sizes[1:]:
        offsets.append(n)
        n += 3 * size
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    low[:sizes[0]], high[:sizes[0]] = lower_x, upper_x
    integrality = np.zeros(n)
    rows, row_low, row_high = [], [], []

    def row(coefficients, lo, hi):
        vector = np.zeros(n)
        for index, value in coefficients:
            vector[index] += value
        rows.append(vector), row_low.append(lo), row_high.append(hi)

    previous = list(range(sizes[0]))
    for layer, ((w, b), size) in enumerate(zip(weights[:-1], sizes[1:])):
        start, m = offsets[layer + 1], big[layer + 1]
        for j in range(size):
            z, a, d = start + j, start + size + j, start + 2 * size + j
            row([(z, 1.0)] + [(p, -w[i, j]) for i, p in enumerate(previous)], b[j], b[j])  # z = a_prev W + b
            low[a], high[a] = 0.0, m
            low[d], high[d], integrality[d] = 0, 1, 1
            row([(a, 1.0), (z, -1.0)], 0, np.inf)  # a >= z
            row([(a, 1.0), (z, -1.0), (d, m)], -np.inf, m)  # a <= z + M (1 - d)
            row([(a, 1.0), (d, -m)], -np.inf, 0)  # a <= M d
        previous = [start + size + j for j in range(size)]
    w, b = weights[-1]
    best = np.inf
    for c in range(w.shape[1]):
        if c == y:
            continue
        objective = np.zeros(n)
        objective[previous] = w[:, y] - w[:, c]
        result = milp(objective, constraints=LinearConstraint(np.array(rows), row_low, row_high),
                      integrality=integrality, bounds=Bounds(low, high), options={"mip_rel_gap": 0})
        assert result.success, result.message
        best = min(best, result.fun + b[y] - b[c])
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_bound_exceeds_the_exact_margin_of_a_mixed_integer_program(seed):
    model, weights = _dense_net([3, 6, 5, 3], seed)
    rng = np.random.default_rng(100 + seed)
    x = rng.uniform(0, 1, size=(6, 3)).astype("float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    evaluator = IntervalBounds(model)
    tight = 0
    for eps in (0.0, 0.02, 0.1):
        bounds = evaluator(x, y, eps)
        for i in range(len(x)):
            exact = _exact_worst_margin(weights, x[i].astype("float64"), int(y[i]), eps)
            assert bounds[i] <= exact + 1e-4, (eps, i, bounds[i], exact)
            tight += abs(bounds[i] - exact) < 1e-3
    assert tight >= len(x)  # at eps = 0 the bound is the exact margin


def _zoo_net():
    """Conv (ReLU), batch norm, a residual Add, max and average pooling, input normalisation, Dropout, Dense."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Normalization(mean=0.3, variance=0.09)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = keras.layers.BatchNormalization()(x)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(4, 3, padding="same")(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = keras.layers.Activation("tanh")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.set_weights([rng.uniform(-2, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)])
    return model


def test_exact_at_eps_0_and_below_every_sampled_point_of_the_ball():
    model = _zoo_net()
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


def test_l2_is_bounded_through_its_enclosing_box():
    """The l2 bound is the l-inf bound of the same radius (the enclosing box), and lies below the margin at sampled
    points of the l2 sphere (clipped to the input box, which keeps them in the ball)."""
    model, _ = _dense_net([4, 8, 3], 3)
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

    for layer, message in ((LocalResponseNormalization(name="lrn"), "no interval-bound rule for layer 'lrn'"),
                           (GaussianNoiseInjection(0.1, name="noise"), "'noise' is random at inference"),
                           (keras.layers.Activation("gelu", name="gelu"), "non-decreasing activation, not 'gelu'")):
        model = keras.Sequential([keras.Input((4, 4, 2)), layer, keras.layers.Flatten(), keras.layers.Dense(3)])
        with pytest.raises(KerobustError, match=message):
            IntervalBounds(model, jit=False)(np.zeros((1, 4, 4, 2)), np.zeros(1), 0.1)
    with pytest.raises(KerobustError, match="unknown threat norm"):
        IntervalBounds(model, norm="l1")
