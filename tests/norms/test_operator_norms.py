"""Exact l1 / l-inf norms of Conv2D against the layer's dense matrix, on random configurations (Theorem 1 of Liang &
Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness"), and the FFT singular values of circular
convolutions against a dense SVD (Sedghi et al. 2019)."""

import keras
import numpy as np
import pytest

from kerobust.norms.circular_spectrum import circular_singular_values
from kerobust.norms.conv_taps import column_tap_sets, row_tap_sets
from kerobust.norms.operator_norms import (
    batch_norm_scale, conv_l1_norm, conv_l2_upper_bound, conv_linf_norm, dense_l1_norm, dense_linf_norm,
)
from tests.norms.dense_conv import keras_dense_matrix, numpy_dense_matrix

pytestmark = pytest.mark.smoke


def _configs(count, seed=0):
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        if rng.random() < 0.5:
            kw = kh
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        height, width = int(rng.integers(max(kh, 3), 10)), int(rng.integers(max(kw, 3), 10))
        kind = rng.choice(["same", "valid", "explicit"])
        padding = (str(kind) if kind != "explicit"
                   else tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2)))
        cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        kernel = rng.normal(size=(kh, kw, cin, cout)).astype("float32")
        configs.append((kernel, (height, width), stride, padding))
    return configs


@pytest.mark.parametrize("kernel,size,strides,padding", _configs(60))
def test_l1_and_linf_equal_the_dense_matrix(kernel, size, strides, padding):
    matrix = numpy_dense_matrix(kernel, size, strides, padding)
    if strides[0] == strides[1]:  # the NumPy matrix follows Keras's conventions (same padding, explicit pads)
        np.testing.assert_allclose(keras_dense_matrix(kernel, size, strides, padding), matrix, atol=1e-5)
    l1, linf = np.abs(matrix).sum(axis=0).max(), np.abs(matrix).sum(axis=1).max()
    assert float(conv_l1_norm(kernel, size, strides, padding)) == pytest.approx(l1, rel=1e-5)
    assert float(conv_linf_norm(kernel, size, strides, padding)) == pytest.approx(linf, rel=1e-5)
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    assert float(conv_l2_upper_bound(kernel, size, strides, padding)) >= top * (1 - 1e-6)


def test_dilation_is_exact_too():
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 2, 2, 3)).astype("float32")
    matrix = keras_dense_matrix(kernel, (9, 7), 1, "same", dilation=2)
    np.testing.assert_allclose(numpy_dense_matrix(kernel, (9, 7), 1, "same", dilation=2), matrix, atol=1e-5)
    assert float(conv_l1_norm(kernel, (9, 7), 1, "same", dilation=2)) == pytest.approx(np.abs(matrix).sum(0).max(),
                                                                                         rel=1e-5)
    assert float(conv_linf_norm(kernel, (9, 7), 1, "same", dilation=2)) == pytest.approx(np.abs(matrix).sum(1).max(),
                                                                                           rel=1e-5)


def test_tap_sets_of_the_papers_examples():
    # 3x3 kernel, pad 1, 32x32: stride 1 -> one set of all offsets; stride 2 -> {centre}, {left, right}, ... (per axis
    # {1} and {0, 2}, whose products are the four index sets Lemma 1 of Liang & Huang (2021) gives here).
    np.testing.assert_array_equal(column_tap_sets(32, 3, 1, (1, 1)), [[1, 1, 1]])
    np.testing.assert_array_equal(column_tap_sets(32, 3, 2, (1, 1)), [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(row_tap_sets(32, 3, 1, (1, 1)), [[1, 1, 1]])
    # Assumption 1 fails (a 5-tap kernel on 3 pixels, no padding, valid): rows see all taps only if they fit.
    np.testing.assert_array_equal(row_tap_sets(4, 3, 2, (0, 0)), [[1, 1, 1]])
    np.testing.assert_array_equal(column_tap_sets(5, 2, 3, (0, 0)), [[0, 1], [1, 0]])


def test_dense_and_batch_norm_by_hand():
    w = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]], dtype="float32")  # 3 inputs, 2 outputs: y = x W
    assert float(dense_l1_norm(w)) == 3.5  # column of the map's matrix W^T = row of W
    assert float(dense_linf_norm(w)) == 5.0
    np.testing.assert_allclose(batch_norm_scale(np.array([2.0, -1.0]), np.array([3.0, 0.0]), 1.0), [1.0, 1.0])


def _circular_matrix(kernel, n):
    """Dense matrix of the stride-1 circular cross-correlation on an n x n input, built entry by entry."""
    kh, kw, cin, cout = kernel.shape
    matrix = np.zeros((n * n * cout, n * n * cin))
    for p in range(n):
        for q in range(n):
            for a in range(kh):
                for b in range(kw):
                    u, v = (p + a) % n, (q + b) % n
                    for i in range(cin):
                        for o in range(cout):
                            matrix[(p * n + q) * cout + o, (u * n + v) * cin + i] += kernel[a, b, i, o]
    return matrix


@pytest.mark.parametrize("shape,n", [((3, 3, 2, 3), 5), ((2, 4, 3, 2), 6), ((1, 1, 4, 4), 3), ((5, 5, 1, 2), 5)])
def test_fft_singular_values_equal_the_dense_svd(shape, n):
    kernel = np.random.default_rng(1).normal(size=shape)
    fft = np.sort(circular_singular_values(kernel, n).ravel())
    dense = np.sort(np.linalg.svd(_circular_matrix(kernel, n), compute_uv=False))[-len(fft):]
    np.testing.assert_allclose(fft, dense, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kernel,size,strides,padding", [c for c in _configs(60) if c[2][0] == c[2][1]][:12])
def test_power_iteration_on_the_layer_matches_the_dense_top_singular_value(kernel, size, strides, padding):
    from kerobust.norms.power_iteration import power_iteration

    layers = [keras.layers.ZeroPadding2D(padding)] if not isinstance(padding, str) else []
    conv = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=strides,
                               padding=padding if isinstance(padding, str) else "valid", bias_initializer="ones")
    layer = keras.Sequential([keras.Input((*size, kernel.shape[2])), *layers, conv])  # the bias must not matter
    conv.set_weights([kernel, np.ones(kernel.shape[3], "float32")])
    sigma, _ = power_iteration(layer, (*size, kernel.shape[2]))
    top = np.linalg.svd(numpy_dense_matrix(kernel, size, strides, padding), compute_uv=False)[0]
    assert sigma == pytest.approx(top, rel=1e-3)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_power_iteration_measures_the_linear_part_without_the_fused_activation(activation):
    """The norms of Liang & Huang (2021) are of the convolution itself: a Conv2D(..., activation=...) must read as its
    kernel's operator (with the activation, relu halves the response of half the units and sigmoid squashes it)."""
    from kerobust.norms.power_iteration import power_iteration

    kernel = np.random.default_rng(3).normal(size=(3, 3, 2, 3)).astype("float32")
    layer = keras.layers.Conv2D(3, 3, padding="same", activation=activation)
    layer.build((None, 6, 6, 2))
    layer.set_weights([kernel, np.full(3, 0.3, "float32")])
    sigma, _ = power_iteration(layer, (6, 6, 2), iterations=3000, tolerance=1e-10)
    expected = np.linalg.svd(numpy_dense_matrix(kernel, (6, 6), (1, 1), "same"), compute_uv=False)[0]
    assert sigma == pytest.approx(expected, rel=1e-3)
    assert layer.activation is keras.activations.get(activation)  # the layer itself is left as it was
