"""The output rule is the exact minimal l2 perturbation of a linear classifier (docs/bounds.md section 2.1 and
properties 2-4 of its section 7)."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator, binary_margin_bound, margin_bound


def _minimal_perturbation(x, kernel, bias):
    """r* = -m / ||u||^2 u toward the nearest class c* (u = w_c* - w_c, m = u . x + b_c* - b_c), in float64."""
    z = x @ kernel + bias
    c = int(np.argmax(z))
    best = None
    for other in range(kernel.shape[1]):
        if other == c:
            continue
        u = kernel[:, other] - kernel[:, c]
        m = u @ x + bias[other] - bias[c]
        r = -m / (u @ u) * u
        if best is None or np.linalg.norm(r) < np.linalg.norm(best):
            best = r
    return best, c


def test_the_bound_of_a_trained_linear_digits_model_is_its_exact_minimal_perturbation(linear_digits, digits):
    model, kernel, bias = linear_digits
    x = digits.x_test[:100]
    bounds = BoundEvaluator(model, "sound")(x)
    np.testing.assert_allclose(BoundEvaluator(model, "thesis")(x), bounds, rtol=1e-6)
    flat = x.reshape(len(x), -1).astype("float64")
    for sample, bound in zip(flat, bounds):
        r, c = _minimal_perturbation(sample, kernel, bias)
        assert bound == pytest.approx(np.linalg.norm(r), rel=2e-4)
        predict = lambda v: int(np.argmax(v @ kernel + bias))  # noqa: E731
        assert predict(sample + 1.001 * r) != c and predict(sample + 0.999 * r) == c


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_invariances_ties_and_the_binary_reduction():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(20, 5)).astype("float32")
    kernel = rng.normal(size=(5, 4)).astype("float32")
    bias = rng.normal(size=4).astype("float32")
    base = np.asarray(margin_bound(y @ kernel + bias, kernel))
    shifted = kernel + rng.normal(size=(5, 1)).astype("float32")  # the same vector added to every w_c
    np.testing.assert_allclose(np.asarray(margin_bound(y @ shifted + bias + 3.0, shifted)), base, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(margin_bound(2.5 * (y @ kernel + bias), 2.5 * kernel)), base, rtol=1e-5)
    order = [2, 0, 3, 1]
    np.testing.assert_allclose(np.asarray(margin_bound((y @ kernel + bias)[:, order], kernel[:, order])), base,
                               rtol=1e-6)
    tie = np.array([[1.0, 1.0, 0.0]], "float32")
    assert float(margin_bound(tie, np.eye(3, dtype="float32"))[0]) == 0.0
    w, b = kernel[:, 1] - kernel[:, 0], bias[1] - bias[0]
    two_class = np.asarray(margin_bound(y @ kernel[:, :2] + bias[:2], kernel[:, :2]))
    np.testing.assert_allclose(np.asarray(binary_margin_bound(y @ w + b, w)), two_class, rtol=1e-5)


@pytest.mark.smoke
def test_a_global_pooling_head_is_the_identity_classifier_with_its_sqrt_2():
    logits = np.array([[3.0, 1.0, 0.5]], "float32")
    assert float(margin_bound(logits)[0]) == pytest.approx(2.0 / np.sqrt(2.0))
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()])
    x = np.random.default_rng(1).random((3, 4, 4, 3)).astype("float32")
    pooled = x.mean(axis=(1, 2))
    gaps = np.sort(pooled, axis=1)
    expected = (gaps[:, -1] - gaps[:, -2]) / np.sqrt(2.0) / (1 / 4)  # the pooling's Lipschitz constant is 1/sqrt(16)
    np.testing.assert_allclose(BoundEvaluator(model, "sound")(x), expected, rtol=1e-5)
