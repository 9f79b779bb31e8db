"""Attack suites (AutoAttack semantics): a point is robust only if every member fails on it."""

import re

import numpy as np
import pytest

from kerobust.attacks import APGD, PGD, AttackSuite, Square, autoattack
from kerobust.attacks.suite import attack_rows
from kerobust.errors import KerobustError
from kerobust.evaluation import evaluate_robustness

pytestmark = pytest.mark.smoke


@pytest.mark.slow_on_jax
def test_autoattack_is_at_least_as_strong_as_each_member(natural_digits_net, digits):
    x, y = digits.x_test[:256], digits.y_test[:256]
    suite = autoattack(0.05, square_queries=200)
    assert [a.describe() for a in suite.members] == [
        "APGD-CE-100 linf eps=0.05", "APGD-T-100 linf eps=0.05 x9 targets", "FAB-T-100 linf eps=0.05 x9 targets",
        "Square-200 linf eps=0.05",
    ]
    result = evaluate_robustness(natural_digits_net, x, y, [suite, *suite.members], progress=False)
    cumulative, total, alone = result.attacks[:4], result.attacks[4], result.attacks[5:]
    assert [a.suite for a in result.attacks] == ["autoattack"] * 5 + [None] * 4
    assert all(total.top1 <= member.top1 for member in alone), (total.top1, [m.top1 for m in alone])
    assert cumulative[0].top1 == alone[0].top1  # APGD-CE runs first on every clean-correct point, same seeds
    assert total.top1 < result.clean_top1


@pytest.mark.slow_on_jax
def test_calling_a_suite_returns_examples_that_fool_where_any_member_does(natural_digits_net, digits):
    x, y = digits.x_test[:100], digits.y_test[:100]
    suite = AttackSuite("pair", (PGD(eps=0.05, steps=5), APGD(eps=0.05, steps=10)))
    x_adv = suite(natural_digits_net, x, y, seed=np.array([0, 0], "int32"))
    fooled = np.asarray(natural_digits_net(x_adv)).argmax(1) != y
    result = evaluate_robustness(natural_digits_net, x, y, [suite], progress=False)
    clean_correct = np.asarray(natural_digits_net(x)).argmax(1) == y
    # Both attack each member on the points still top-1 robust, with the same seeds: the same examples.
    assert np.mean(clean_correct & ~fooled) == result.attacks[-1].top1
    assert np.mean(clean_correct & ~fooled) <= result.attacks[0].top1
    assert np.abs(x_adv - x).max() <= 0.05 + 1e-6


@pytest.mark.slow_on_jax
def test_attack_rows_touches_only_the_selected_rows(natural_digits_net, digits):
    x, y = digits.x_test[:20], digits.y_test[:20]
    rows = np.zeros(20, bool)
    rows[[1, 4, 5, 17, 18]] = True
    x_adv = attack_rows(PGD(eps=0.1, steps=3), natural_digits_net, x, y, rows, seed=0)
    changed = np.abs(x_adv - x).reshape(20, -1).max(axis=1) > 0
    np.testing.assert_array_equal(changed, rows)


def test_selected_rows_are_padded_to_few_shapes_with_little_waste():
    from kerobust.attacks.suite import padded_size

    assert [padded_size(n) for n in (1, 2, 3, 5, 17, 32, 33, 273, 512)] == [1, 2, 4, 8, 32, 32, 64, 288, 512]


def test_members_must_share_the_threat_model():
    with pytest.raises(KerobustError, match="share one norm and eps"):
        AttackSuite("mixed", (PGD(eps=0.1), PGD(eps=0.2)))
    with pytest.raises(KerobustError, match="no attacks"):
        AttackSuite("empty", ())


@pytest.mark.smoke
@pytest.mark.parametrize("make, old, new", [
    (lambda **k: PGD(eps=0.1, **k), "num_steps", "steps"),
    (lambda **k: APGD(eps=0.1, **k), "num_steps", "steps"),
    (lambda **k: Square(eps=0.1, **k), "num_queries", "queries"),
])
def test_the_old_keywords_still_work_for_one_release_and_say_so(make, old, new):
    with pytest.warns(DeprecationWarning, match=re.escape(f"({old}=...) is deprecated; use {new}=...")):
        attack = make(**{old: 7})
    assert attack == make(**{new: 7}) and getattr(attack, new) == 7 and attack.steps == 7


def test_the_versions_are_the_reference_definitions():
    """The authors' `set_version`: standard (APGD-CE, APGD-T x9, FAB-T x9, Square-5000; one restart each), plus
    (APGD-CE and APGD-DLR x5 restarts, FAB x5, Square-5000, APGD-T x9, FAB-T x9), rand (APGD-CE and APGD-DLR with
    EOT-20)."""
    from kerobust.attacks.suite import SUITES

    described = {name: build(8 / 255).describe() for name, build in SUITES.items()}
    assert described == {
        "autoattack": "autoattack (APGD-CE-100, APGD-T-100 x9 targets, FAB-T-100 x9 targets, Square-5000) "
                      "linf eps=0.0313725",
        "autoattack-plus": "autoattack-plus (APGD-CE-100 x5 restarts, APGD-DLR-100 x5 restarts, FAB-100 x5 restarts, "
                           "Square-5000, APGD-T-100 x9 targets, FAB-T-100 x9 targets) linf eps=0.0313725",
        "autoattack-rand": "autoattack-rand (APGD-CE-100 EOT-20, APGD-DLR-100 EOT-20) linf eps=0.0313725",
    }
    assert autoattack(0.1, eot_samples=10).describe() == (
        "autoattack-rand (APGD-CE-100 EOT-10, APGD-DLR-100 EOT-10) linf eps=0.1")  # --eot N: the rand version
    with pytest.raises(KerobustError, match="autoattack-rand"):
        SUITES["autoattack-plus"](0.1, eot_samples=10)


@pytest.mark.slow_on_jax
def test_a_randomised_model_is_attacked_with_the_rand_version_and_the_result_says_so(digits):
    import keras

    from kerobust.layers import GaussianNoiseInjection

    model = keras.Sequential([keras.Input(digits.input_shape), GaussianNoiseInjection(0.1), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    x, y = digits.x_test[:8], digits.y_test[:8]
    result = evaluate_robustness(model, x, y, [autoattack(0.1, square_queries=10)], progress=False)
    assert [a.name for a in result.attacks] == ["APGD-CE", "APGD-DLR", "autoattack-rand"]
    assert result.attacks[0].description == "APGD-CE-100 linf eps=0.1 EOT-20"
    assert len(result.notes) == 1 and "randomised" in result.notes[0] and "autoattack-rand" in result.notes[0]
