"""Tiny networks for the IBP and CROWN tests, and their ground truth: the exact worst-case margin over an l-inf ball
in the [0, 1] box, by a mixed-integer program (big-M ReLUs) solved by SciPy's HiGHS."""

import keras
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from tests.norms.dense_conv import numpy_dense_matrix


def dense_net(sizes, seed):
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


def exact_worst_margin(weights, x, y, eps):
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




def conv_net(seed):
    """Conv2D(3, 3x3, stride 2, same, ReLU) on 4x4x1, Flatten, Dense(5, ReLU), Dense(3), and the same network as
    dense (W, b) pairs for `exact_worst_margin` (the convolution as its matrix)."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(3, 3, 1, 3)).astype("float32")
    bias = (rng.normal(size=3) * 0.3).astype("float32")
    w2, b2 = rng.normal(size=(12, 5)).astype("float32") * 0.5, (rng.normal(size=5) * 0.3).astype("float32")
    w3, b3 = rng.normal(size=(5, 3)).astype("float32"), (rng.normal(size=3) * 0.3).astype("float32")
    constant = keras.initializers.Constant
    model = keras.Sequential([
        keras.Input((4, 4, 1)),
        keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", kernel_initializer=constant(kernel),
                            bias_initializer=constant(bias)),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="relu", kernel_initializer=constant(w2), bias_initializer=constant(b2)),
        keras.layers.Dense(3, kernel_initializer=constant(w3), bias_initializer=constant(b3)),
    ])
    matrix = numpy_dense_matrix(kernel.astype("float64"), (4, 4), 2, "same")
    weights = [(matrix.T, np.tile(bias.astype("float64"), 4)), (w2.astype("float64"), b2.astype("float64")),
               (w3.astype("float64"), b3.astype("float64"))]
    return model, weights


def zoo_net():
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
