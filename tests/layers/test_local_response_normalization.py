import numpy as np
import pytest

from kerobust.layers import LocalResponseNormalization
from tests.keras_citizenship import check_citizenship


@pytest.mark.smoke
def test_hand_computed_case():
    # One position, 4 channels a = (1, 2, 3, 4), n = 3 (one neighbour each side), k = 1, alpha = 0.5, beta = 1.
    a = np.array([1.0, 2.0, 3.0, 4.0], "float32").reshape(1, 1, 1, 4)
    sums = np.array([1 + 4, 1 + 4 + 9, 4 + 9 + 16, 9 + 16])
    expected = np.array([1, 2, 3, 4]) / (1 + 0.5 * sums)
    out = LocalResponseNormalization(k=1.0, n=3, alpha=0.5, beta=1.0)(a)
    np.testing.assert_allclose(np.asarray(out).ravel(), expected, rtol=1e-6)


@pytest.mark.parametrize("k,n,alpha,beta", [(2.0, 5, 1e-4, 0.75), (1.0, 3, 0.1, 0.5), (0.5, 4, 0.3, 1.2),
                                            (1.0, 1, 1.0, 0.75)])
def test_equals_tensorflow_local_response_normalization(k, n, alpha, beta):
    import tensorflow as tf

    x = np.random.default_rng(0).normal(scale=3.0, size=(2, 5, 5, 7)).astype("float32")
    expected = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=k, alpha=alpha, beta=beta)
    out = LocalResponseNormalization(k=k, n=n, alpha=alpha, beta=beta)(x)
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_defaults_are_alexnets():
    layer = LocalResponseNormalization()
    assert (layer.k, layer.n, layer.alpha, layer.beta) == (2.0, 5, 1e-4, 0.75)


@pytest.mark.parametrize("bad", [{"n": 0}, {"k": 0.0}, {"alpha": -1.0}])
def test_bad_arguments_are_clear_errors(bad):
    with pytest.raises(ValueError, match="LocalResponseNormalization"):
        LocalResponseNormalization(**bad)


def test_keras_citizenship(tmp_path):
    import keras

    x = np.random.default_rng(1).normal(size=(8, 4, 4, 6)).astype("float32")
    inputs = keras.Input((4, 4, 6))
    hidden = LocalResponseNormalization(alpha=0.1)(keras.layers.Conv2D(6, 3, padding="same")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(hidden)))
    check_citizenship(model, x, tmp_path)
