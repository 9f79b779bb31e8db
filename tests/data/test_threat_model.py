"""Threat-model defaults, one home: the dataset's radius and PGD step sizes for training and evaluation."""

import pytest

from kerobust.data.threat_model import ThreatModel

DIGITS_LIKE = ThreatModel(eps=0.2, train_steps=10, train_step_size=0.05, eval_steps=(20,), eval_step_size=0.025,
                          l2_eps=0.5)


def test_radius_per_norm():
    assert DIGITS_LIKE.radius("linf") == 0.2 and DIGITS_LIKE.radius("l2") == 0.5


def test_linf_steps_scale_with_eps_and_l2_steps_follow_madrys_rule():
    assert DIGITS_LIKE.training_step(0.2, "linf", 10) == 0.05
    assert DIGITS_LIKE.training_step(0.1, "linf", 10) == pytest.approx(0.025)
    assert DIGITS_LIKE.evaluation_step(0.4, "linf") == pytest.approx(0.05)
    assert DIGITS_LIKE.training_step(0.5, "l2", 10) == pytest.approx(2.5 * 0.5 / 10)
    assert DIGITS_LIKE.evaluation_step(0.5, "l2") is None  # the attack's own 2.5 eps / steps
    assert DIGITS_LIKE.training_step(0.0, "linf", 10) is None  # nothing to step
