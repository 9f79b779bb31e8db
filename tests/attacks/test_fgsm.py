import numpy as np
import pytest
from keras import ops

from kerobust.attacks import FGSM, fgsm

pytestmark = pytest.mark.smoke


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def test_fgsm_on_a_linear_model_matches_the_hand_computed_gradient_sign(linear_digits, digits):
    model, weights, bias = linear_digits
    x, y = digits.x_test[:50], digits.y_test[:50]
    flat = x.reshape(len(x), -1)
    probs = _softmax(flat @ weights + bias)
    # d CE / d x = W (p - e_y)
    grad = (probs - np.eye(10)[y]) @ weights.T
    expected = np.clip(flat + 0.1 * np.sign(grad), 0, 1).reshape(x.shape)
    x_adv = ops.convert_to_numpy(fgsm(model, x, y, eps=0.1))
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)


def test_fgsm_l2_moves_exactly_eps_along_the_gradient_without_box(linear_digits, digits):
    model, weights, bias = linear_digits
    x, y = digits.x_test[:20], digits.y_test[:20]
    flat = x.reshape(len(x), -1)
    grad = (_softmax(flat @ weights + bias) - np.eye(10)[y]) @ weights.T
    step = 0.7 * grad / np.linalg.norm(grad, axis=1, keepdims=True)
    x_adv = ops.convert_to_numpy(FGSM(eps=0.7, norm="l2", clip_min=None, clip_max=None)(model, x, y))
    np.testing.assert_allclose(x_adv.reshape(len(x), -1), flat + step, atol=1e-5)


def test_fgsm_with_random_start_stays_in_the_ball_and_the_box(linear_digits, digits):
    model, _, _ = linear_digits
    x, y = digits.x_test[:64], digits.y_test[:64]
    x_adv = ops.convert_to_numpy(FGSM(eps=0.2, random_start=True, step_size=0.25)(model, x, y, seed=5))
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
