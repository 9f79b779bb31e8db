import keras
import numpy as np
import pytest

from kerobust.layers import LpPooling2D
from tests.keras_citizenship import check_citizenship


def _numpy_lp_pool(x, p, pool, stride, padding):
    """Windows read off a zero-padded array by index, one by one."""
    (qh, qw), (sh, sw) = pool, stride
    height, width = x.shape[1:3]
    if padding == "same":
        out_h, out_w = -(-height // sh), -(-width // sw)
        pad_h, pad_w = max((out_h - 1) * sh + qh - height, 0), max((out_w - 1) * sw + qw - width, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    else:
        out_h, out_w = (height - qh) // sh + 1, (width - qw) // sw + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * sh:i * sh + qh, j * sw:j * sw + qw, :]
            out[:, i, j, :] = np.sum(np.abs(window) ** p, axis=(1, 2)) ** (1 / p)
    return out


@pytest.mark.smoke
@pytest.mark.parametrize("p,pool,stride,padding", [
    (2.0, (2, 2), (2, 2), "valid"), (1.0, (3, 3), (2, 2), "same"), (3.0, (2, 3), (1, 2), "valid"),
    (0.5, (2, 2), (1, 1), "same"),
])
def test_matches_the_window_norms(p, pool, stride, padding):
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    layer = LpPooling2D(p, pool, stride, padding)
    np.testing.assert_allclose(np.asarray(layer(x)), _numpy_lp_pool(x, p, pool, stride, padding), rtol=1e-4)
    assert layer.compute_output_shape(x.shape) == layer(x).shape


def test_large_p_tends_to_max_pooling_of_magnitudes_without_overflow():
    """|x| up to 50 and p = 200: |x|^p overflows float32, the window-scaled form does not; 4 ** (1 / 200) = 1.007."""
    x = np.random.default_rng(1).uniform(-50.0, 50.0, size=(1, 4, 4, 2)).astype("float32")
    x[0, :2, :2, 0] = 0.01  # a window of small values keeps its own scale
    expected = np.asarray(keras.layers.MaxPooling2D(2)(np.abs(x)))
    np.testing.assert_allclose(np.asarray(LpPooling2D(200.0, 2)(x)), expected, rtol=8e-3)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0])
def test_zero_windows_give_zero_with_finite_gradients(p):
    from keras import ops

    from kerobust import backend

    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 0, 0] = 3.0  # one window holds a single nonzero entry (and zeros), the others are all zero
    layer = LpPooling2D(p, 2)
    np.testing.assert_allclose(np.asarray(layer(x))[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]], rtol=1e-6)
    grad = np.asarray(backend.gradient(lambda z: ops.sum(layer(z)), x))
    assert np.isfinite(grad).all() and grad[0, 0, 0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": -1.0}, {"p": float("inf")}, {"pool_size": 0}, {"padding": "full"}])
def test_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        LpPooling2D(**{"p": 2.0, **bad})


def test_keras_citizenship(tmp_path):
    x = np.random.default_rng(2).normal(size=(8, 6, 6, 2)).astype("float32")
    inputs = keras.Input((6, 6, 2))
    hidden = LpPooling2D(2.0, 2)(keras.layers.Conv2D(4, 3, padding="same")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(hidden)))
    check_citizenship(model, x, tmp_path)
