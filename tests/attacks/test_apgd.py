"""APGD-CE and APGD-T (Croce & Hein 2020) against ground truth: the checkpoint schedule computed by hand, the exact
robust accuracy of a linear classifier, and PGD-20 on a naturally trained digits network."""

import numpy as np
import pytest

from kerobust.attacks import APGD, PGD
from kerobust.attacks.apgd import checkpoints
from kerobust.evaluation import evaluate_robustness
from tests.attacks.test_pgd_linear_closed_form import exact_robust_accuracy

pytestmark = pytest.mark.smoke


def test_checkpoints_follow_the_papers_schedule():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99, 1.05 (steps shrink by 0.03, at least 0.06).
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99, 100]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
def test_apgd_t_reaches_the_exact_robust_accuracy_of_a_linear_model(linear_digits, digits, norm, eps):
    model, weights, bias = linear_digits
    attack = APGD(eps=eps, norm=norm, steps=30, targets=9, clip_min=None, clip_max=None)
    result = evaluate_robustness(model, digits.x_test, digits.y_test, [attack], progress=False)
    exact = exact_robust_accuracy(weights, bias, digits.x_test, digits.y_test, eps, norm)
    assert abs(result.attacks[0].top1 - exact) <= 0.005, (result.attacks[0].top1, exact)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.7)])
def test_iterates_stay_in_the_ball_and_the_box(linear_digits, digits, norm, eps):
    model, _, _ = linear_digits
    x, y = digits.x_test[:64], digits.y_test[:64]
    x_adv = np.asarray(APGD(eps=eps, norm=norm, steps=10)(model, x, y))
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5) and x_adv.min() >= 0.0 and x_adv.max() <= 1.0


@pytest.mark.slow_on_jax
def test_apgd_ce_finds_at_least_as_many_adversarial_points_as_pgd20(natural_digits_net, digits):
    eps = 0.05
    attacks = [PGD(eps=eps, steps=20, step_size=eps / 4), APGD(eps=eps, steps=20)]
    result = evaluate_robustness(natural_digits_net, digits.x_test, digits.y_test, attacks, progress=False)
    pgd_accuracy, apgd_accuracy = (a.top1 for a in result.attacks)
    assert result.clean_top1 > 0.9 and pgd_accuracy < result.clean_top1  # the radius matters
    assert apgd_accuracy <= pgd_accuracy, (apgd_accuracy, pgd_accuracy)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
def test_apgd_dlr_with_restarts_reaches_the_exact_robust_accuracy_of_a_linear_model(linear_digits, digits, norm, eps):
    """AutoAttack's "plus" members: the untargeted DLR loss, rerun from 3 random starts (one run of APGD-CE stays 1.7
    and 2.2 points above the exact value here)."""
    model, weights, bias = linear_digits
    attack = APGD(eps=eps, norm=norm, steps=30, loss="dlr", restarts=3, clip_min=None, clip_max=None)
    assert attack.describe() == f"APGD-DLR-30 {norm} eps={eps:g} x3 restarts"
    result = evaluate_robustness(model, digits.x_test, digits.y_test, [attack], progress=False)
    exact = exact_robust_accuracy(weights, bias, digits.x_test, digits.y_test, eps, norm)
    assert abs(result.attacks[0].top1 - exact) <= 0.005, (result.attacks[0].top1, exact)


def test_the_dlr_loss_equals_its_formula_by_hand():
    """-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), with the label's logit highest and not highest."""
    from keras import ops

    from kerobust.attacks.losses import dlr

    z = np.array([[4.0, 1.0, 3.0, 0.5], [1.0, 2.0, 5.0, -1.0]], dtype="float32")
    y = np.array([0, 1])
    expected = [-(4.0 - 3.0) / (4.0 - 1.0), -(2.0 - 5.0) / (5.0 - 1.0)]
    found = ops.convert_to_numpy(dlr()(ops.convert_to_tensor(y), ops.convert_to_tensor(z), per_sample=True))
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    shifted = ops.convert_to_numpy(dlr()(ops.convert_to_tensor(y), ops.convert_to_tensor(3 * z + 7), per_sample=True))
    np.testing.assert_allclose(shifted, expected, rtol=1e-5)  # invariant to shifts and scalings


def test_bad_arguments_are_clear_errors():
    from kerobust.errors import KerobustError

    with pytest.raises(KerobustError, match="steps >= 1"):
        APGD(eps=0.1, steps=0)
    with pytest.raises(KerobustError, match="restarts must be >= 1"):
        APGD(eps=0.1, restarts=0)
