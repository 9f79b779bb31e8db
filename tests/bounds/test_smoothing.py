"""Randomised smoothing against closed forms: the Clopper-Pearson bound solves its defining binomial equation, and
on a linear classifier the certified radius approaches the exact distance to the boundary from below."""

import keras
import numpy as np
import pytest
from scipy.stats import binom

from kerobust.bounds.smoothing import certify_smoothed, clopper_pearson_lower

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize("successes, trials", [(1, 10), (37, 50), (990, 1000), (1000, 1000)])
def test_clopper_pearson_lower_bound_solves_the_binomial_tail_equation(successes, trials):
    """p is the lower bound when P(X >= k | p) = alpha for X ~ Binomial(n, p)."""
    p = float(clopper_pearson_lower(successes, trials, 0.01))
    np.testing.assert_allclose(binom.sf(successes - 1, trials, p), 0.01, rtol=1e-6)
    assert float(clopper_pearson_lower(0, trials, 0.01)) == 0.0


def test_a_linear_classifier_is_certified_just_below_its_distance_to_the_boundary():
    """Two logits (0, w . x + b): the smoothed classifier is the linear one, P(class 1) = Phi((w.x + b) / (sigma
    ||w||)), so sigma Phi^-1(p_A) is the exact l2 distance |w.x + b| / ||w|| in the limit of many samples."""
    w = np.array([0.6, -0.8], "float32")  # unit norm
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        2, kernel_initializer=keras.initializers.Constant(np.stack([np.zeros(2), w], 1)),
        bias_initializer=keras.initializers.Constant([0.0, 0.1]))])
    x = np.array([[0.5, 0.2], [0.2, 0.5], [0.3, 0.35]], "float32")
    distance = np.abs(x @ w + 0.1)
    found = certify_smoothed(model, x, sigma=0.25, samples=20000, alpha=0.001, seed=1)
    np.testing.assert_array_equal(found.prediction, [1, 0, -1])  # the third point lies within 0.01 of the boundary
    assert np.all(found.radius[:2] <= distance[:2]) and np.all(found.radius[:2] > distance[:2] - 0.03)
    assert found.radius[2] == 0.0
