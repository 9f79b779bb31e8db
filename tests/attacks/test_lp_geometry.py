import numpy as np
import pytest
from keras import ops

from kerobust.attacks import lp_geometry as geo
from kerobust.errors import KerobustError
from kerobust.seeds import seed_pair

pytestmark = pytest.mark.smoke


def _np(x):
    return ops.convert_to_numpy(x)


def test_linf_projection_is_clipping():
    delta = np.array([[[[0.5]], [[-0.05]], [[-0.3]]]], dtype="float32")
    np.testing.assert_allclose(_np(geo.project(delta, 0.1, "linf")), np.clip(delta, -0.1, 0.1))


def test_l2_projection_rescales_only_outside_the_ball():
    rng = np.random.default_rng(0)
    delta = rng.normal(size=(5, 4, 4, 1)).astype("float32")
    delta[0] *= 1e-3  # inside the ball: unchanged
    projected = _np(geo.project(delta, 1.0, "l2"))
    norms = np.linalg.norm(delta.reshape(5, -1), axis=1)
    np.testing.assert_allclose(projected[0], delta[0], rtol=1e-6)
    for i in range(1, 5):
        np.testing.assert_allclose(projected[i], delta[i] / norms[i], rtol=1e-5)


def test_steepest_ascent_has_the_step_length_and_maximises_the_inner_product():
    rng = np.random.default_rng(1)
    grad = rng.normal(size=(3, 2, 2, 1)).astype("float32")
    step = _np(geo.steepest_ascent(grad, 0.25, "linf"))
    np.testing.assert_allclose(np.abs(step), 0.25)
    # <g, step> equals step_size * ||g||_1 for l-inf (the dual norm), ||g||_2 for l2.
    np.testing.assert_allclose(np.sum(grad * step, axis=(1, 2, 3)), 0.25 * np.abs(grad).sum(axis=(1, 2, 3)), rtol=1e-5)
    step2 = _np(geo.steepest_ascent(grad, 0.25, "l2"))
    np.testing.assert_allclose(np.linalg.norm(step2.reshape(3, -1), axis=1), 0.25, rtol=1e-5)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_lies_in_the_ball_and_fills_it(norm):
    x = np.zeros((2000, 2, 2, 1), dtype="float32")
    delta = _np(geo.random_start(ops.convert_to_tensor(x), 0.5, norm, seed_pair(3, 4)))
    flat = delta.reshape(len(delta), -1)
    size = np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1)
    assert size.max() <= 0.5 + 1e-6
    # Uniform in a 4-dimensional ball: P(radius <= r) = (r / eps)^4, so the median radius is 0.5 * 0.5^(1/4).
    if norm == "l2":
        assert abs(np.median(size) - 0.5 * 0.5 ** 0.25) < 0.02
    else:
        assert abs(np.mean(np.abs(flat)) - 0.25) < 0.01


def test_unknown_norm_is_a_clear_error():
    with pytest.raises(KerobustError, match="unknown norm 'l3'"):
        geo.check_norm("l3")
