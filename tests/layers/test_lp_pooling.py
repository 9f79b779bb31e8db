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
    (2.0, (2, 2), (2, 2), "valid"), (1.0, (3, 3), (2, 2), "same"), (3.0, (2, 3), (1, 2), "valid"), (0.5, (2, 2), (1, 1), "same"),
])
def test_matches_the_window_norms(p, pool, stride, padding):
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    layer = LpPooling2D(p, pool, stride, padding)
    np.testing.assert_allclose(np.asarray(layer(x)), _numpy_lp_pool(x, p, pool, stride, padding), rtol=1e-4)
    assert layer.compute_output_shape(x.shape) == layer(x).shape


def test_large_p_tends_to_max_pooling_of_magnitudes():
    x = np.random.default_rng(1).uniform(0.5, 2.0, size=(1, 4, 4, 2)).astype("float32")  # 4 ** (1 / 64) = 1.022
    np.testing.assert_allclose(np.asarray(LpPooling2D(64.0, 2)(x)), np.asarray(keras.layers.MaxPooling2D(2)(x)), rtol=2.5e-2)


def test_gradient_is_finite_on_an_all_zero_window():
    from kerobust import backend
    from keras import ops

    grad = backend.gradient(lambda z: ops.sum(LpPooling2D(2.0, 2)(z)), np.zeros((1, 4, 4, 1), "float32"))
    assert np.isfinite(np.asarray(grad)).all()


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": -1.0}, {"pool_size": 0}, {"padding": "full"}])
def test_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        LpPooling2D(**{"p": 2.0, **bad})


def test_keras_citizenship(tmp_path):
    x = np.random.default_rng(2).normal(size=(8, 6, 6, 2)).astype("float32")
    inputs = keras.Input((6, 6, 2))
    hidden = LpPooling2D(2.0, 2)(keras.layers.Conv2D(4, 3, padding="same")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(hidden)))
    check_citizenship(model, x, tmp_path)
