"""Gradient-masking diagnostics: a masked model triggers them, honest models do not."""

import keras
import numpy as np
import pytest

from kerobust.attacks import FGSM, PGD
from kerobust.evaluation import evaluate_robustness
from kerobust.evaluation.masking import diagnose, result_warnings, whole_box_eps
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult


def _checks(warnings):
    return {w["check"] for w in warnings}


def _rounding(model, input_shape):
    """`model` behind an input quantiser to 5 grey levels: gradients vanish, decisions still move."""
    return keras.Sequential([keras.Input(input_shape), keras.layers.Lambda(lambda t: keras.ops.round(t * 4) / 4),
                             model])


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_a_model_that_rounds_its_input_triggers_the_warnings(natural_digits_net, digits):
    masked = _rounding(natural_digits_net, digits.input_shape)
    x, y = digits.x_test[:200], digits.y_test[:200]
    result = evaluate_robustness(masked, x, y, [FGSM(eps=0.1), PGD(eps=0.1, steps=10)], progress=False)
    found = _checks(diagnose(masked, x, y, result, "linf", 0.1, points=200))
    assert {"zero_gradients", "black_box_beats_white_box", "large_eps_accuracy"} <= found, found
    assert found == _checks(result.to_json()["masking_warnings"])


def test_an_honest_natural_model_triggers_none(natural_digits_net, digits):
    x, y = digits.x_test, digits.y_test
    result = evaluate_robustness(natural_digits_net, x, y, [FGSM(eps=0.1), PGD(eps=0.1, steps=20)], progress=False)
    assert diagnose(natural_digits_net, x, y, result, "linf", 0.1) == []
    assert diagnose(natural_digits_net, x, y, result, "l2", 1.0) == []


def test_an_honest_adversarially_trained_model_triggers_none(digits):
    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    keras.utils.set_random_seed(0)
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=16)
    trainer = AdversarialModel(classifier, build_training_method("pgd", eps=0.2, steps=5), batch_size=64)
    trainer.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(digits.x_train, digits.y_train, batch_size=64, epochs=12, verbose=0)
    x, y = digits.x_test, digits.y_test
    result = evaluate_robustness(classifier, x, y, [FGSM(eps=0.2), PGD(eps=0.2, steps=20)], progress=False)
    assert result.attacks[1].top1 > 0.3  # it is robust, so the checks have something to look at
    # The probe on the whole test split: on 256 points one CPU's trajectory had Square-300 2.3 points below PGD-50,
    # just over the 2-point tolerance, a sampling gap of about 1.5 standard errors.
    assert diagnose(classifier, x, y, result, "linf", 0.2, points=len(x)) == []


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_a_randomised_model_is_reported(digits):
    from kerobust.layers import GaussianNoiseInjection

    model = keras.Sequential([keras.Input(digits.input_shape), GaussianNoiseInjection(0.1), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    x, y = digits.x_test[:64], digits.y_test[:64]
    result = evaluate_robustness(model, x, y, [FGSM(eps=0.1)], progress=False)
    assert "random_outputs" in _checks(diagnose(model, x, y, result, "linf", 0.1, points=64))


def _result(*rows, clean=0.9):
    attacks = [
        AttackAccuracy(name, "linf", eps, steps, None, top1, 1.0,
                       description=f"{name}{'-' + str(steps) if steps > 1 else ''} linf eps={eps:g}")
        for name, eps, steps, top1 in rows
    ]
    return RobustnessResult(num_points=100, clean_top1=clean, clean_top5=1.0, attacks=attacks)


@pytest.mark.smoke
def test_checks_on_the_evaluated_attacks():
    honest = _result(("FGSM", 0.1, 1, 0.5), ("PGD", 0.1, 10, 0.4), ("PGD", 0.1, 50, 0.39), ("PGD", 0.2, 10, 0.1),
                     ("Square", 0.1, 1000, 0.45))
    assert result_warnings(honest) == []
    masked = _result(("FGSM", 0.1, 1, 0.3), ("PGD", 0.1, 10, 0.5), ("PGD", 0.1, 50, 0.6), ("PGD", 0.2, 10, 0.7),
                     ("Square", 0.1, 1000, 0.2))
    assert _checks(result_warnings(masked)) == {
        "iterative_weaker_than_single_step", "accuracy_rises_with_steps", "accuracy_rises_with_eps",
        "black_box_beats_white_box",
    }
    within_tolerance = _result(("FGSM", 0.1, 1, 0.40), ("PGD", 0.1, 10, 0.41))
    assert result_warnings(within_tolerance) == []


@pytest.mark.smoke
@pytest.mark.parametrize("fgsm, pgd, flagged", [
    # O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks", Table 1, precision@1 at k = 3:
    # ConvNorm, BN+ConvNorm, BN, vanilla
    (0.7127, 0.0026, True), (0.8198, 0.0319, True), (0.4742, 0.4118, False), (0.5517, 0.3295, False),
    (0.15, 0.0, False),  # a natural model: both small, the gap below SINGLE_STEP_GAP
    (0.50, 0.24, True), (0.50, 0.26, False),  # either side of half of FGSM's accuracy
    (0.35, 0.16, False),  # below half, but a gap of 0.19 only
])
def test_fgsm_far_above_pgd_is_reported(fgsm, pgd, flagged):
    found = _checks(result_warnings(_result(("FGSM", 8 / 255, 1, fgsm), ("PGD", 8 / 255, 10, pgd))))
    assert ("single_step_overestimates" in found) == flagged
    other_radius = _result(("FGSM", 8 / 255, 1, fgsm), ("PGD", 16 / 255, 10, pgd))
    assert "single_step_overestimates" not in _checks(result_warnings(other_radius))


@pytest.mark.smoke
def test_an_attack_that_raises_accuracy_above_clean_is_reported():
    leaking = _result(("FGSM", 0.1, 1, 0.95), ("PGD", 0.1, 10, 0.6), clean=0.9)
    assert _checks(result_warnings(leaking)) == {"attack_raises_accuracy"}
    assert result_warnings(_result(("FGSM", 0.1, 1, 0.91), ("PGD", 0.1, 10, 0.6), clean=0.9)) == []


@pytest.mark.smoke
def test_whole_box_radius_reaches_every_corner():
    assert whole_box_eps("linf", (8, 8, 1)) == 1.0
    assert whole_box_eps("l2", (8, 8, 1)) == pytest.approx(np.linalg.norm(np.ones(64)))
