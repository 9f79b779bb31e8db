import json

import numpy as np
import pytest

from kerobust.attacks import FGSM, PGD
from kerobust.evaluation import evaluate_robustness, format_table, write_metrics
from kerobust.errors import KerobustError
from kerobust.evaluation.top_k import top_k_correct

pytestmark = pytest.mark.smoke


def test_top_k_by_hand():
    outputs = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    np.testing.assert_array_equal(top_k_correct(outputs, [2, 2], 1), [False, False])
    np.testing.assert_array_equal(top_k_correct(outputs, [2, 2], 2), [True, False])
    np.testing.assert_array_equal(top_k_correct(outputs, [2, 2], 5), [True, True])  # k capped at 3 classes


@pytest.mark.slow_on_jax
def test_clean_accuracy_and_zero_radius_attacks_equal_numpy_accuracy(linear_digits, digits):
    model, weights, bias = linear_digits
    logits = digits.x_test.reshape(len(digits.x_test), -1) @ weights + bias
    expected = (logits.argmax(1) == digits.y_test).mean()
    result = evaluate_robustness(
        model, digits.x_test, digits.y_test, [FGSM(eps=0.0), PGD(eps=0.0, steps=3)], batch_size=100, progress=False
    )
    assert result.clean_top1 == pytest.approx(expected)
    assert [a.top1 for a in result.attacks] == [pytest.approx(expected)] * 2
    assert result.clean_top5 >= result.clean_top1


@pytest.mark.slow_on_jax
def test_attacks_lower_accuracy_and_results_are_reproducible(linear_digits, digits):
    model, _, _ = linear_digits
    attacks = [FGSM(eps=0.1), PGD(eps=0.1, steps=10)]
    first = evaluate_robustness(model, digits.x_test, digits.y_test, attacks, seed=3, progress=False)
    again = evaluate_robustness(model, digits.x_test, digits.y_test, attacks, seed=3, progress=False)
    assert first.to_json() == again.to_json()
    assert first.attacks[1].top1 <= first.attacks[0].top1 < first.clean_top1


def test_table_layout_and_metrics_json(linear_digits, digits, tmp_path):
    model, _, _ = linear_digits
    result = evaluate_robustness(model, digits.x_test[:50], digits.y_test[:50],
                                 [FGSM(eps=0.1), PGD(eps=0.1, steps=5)], progress=False)
    table = format_table({"linear": result, "again": result}).splitlines()
    assert [c.strip() for c in table[0].split("|")[1:-1]] == ["Accuracy", "Attack", "eps", "steps", "linear", "again"]
    assert table[2].startswith("| top-1    | Clean") and table[6].startswith("| top-5    | Clean")
    assert f"{100 * result.attacks[1].top1:.2f}" in table[4]
    assert table[5].startswith("|          | all attacks | 0.1 ")
    assert f"{100 * result.worst_case[0]['top1']:.2f}" in table[5]
    single = format_table(result).splitlines()  # one result: a single column
    assert [c.strip() for c in single[0].split("|")[1:-1]][-1] == "accuracy (%)"
    assert [row.split("|")[-2].strip() for row in single[2:]] == [row.split("|")[-2].strip() for row in table[2:]]
    with pytest.raises(KerobustError, match="RobustnessResult"):
        format_table([result])
    path = tmp_path / "metrics.json"
    write_metrics(path, result, dataset="digits")
    payload = json.loads(path.read_text())
    assert set(payload) >= {"clean", "attacks", "dataset"}
    assert payload["attacks"][1] | {} == {
        "name": "PGD", "norm": "linf", "eps": 0.1, "steps": 5, "step_size": pytest.approx(0.05),
        "top1": result.attacks[1].top1, "top5": result.attacks[1].top5, "description": "PGD-5 linf eps=0.1",
        "suite": None,
    }
    assert all(0 <= a[k] <= 1 for a in payload["attacks"] for k in ("top1", "top5"))


@pytest.mark.slow_on_jax
def test_worst_case_counts_points_robust_to_every_attack(linear_digits, digits):
    model, _, _ = linear_digits
    x, y = digits.x_test[:120], digits.y_test[:120]
    attacks = [FGSM(eps=0.05), PGD(eps=0.05, steps=5, loss="margin"), PGD(eps=0.1, steps=5)]
    result = evaluate_robustness(model, x, y, attacks, batch_size=50, progress=False)
    per_point = []
    for b, start in enumerate(range(0, len(x), 50)):  # the same seeds as the evaluation: (0, batch index)
        xb, yb = x[start:start + 50], y[start:start + 50]
        robust = np.ones(len(xb), bool)
        for attack in attacks[:2]:
            robust &= np.asarray(model(attack(model, xb, yb, seed=np.array([0, b], "int32")))).argmax(1) == yb
        per_point.append(robust)
    assert [(w["norm"], w["eps"]) for w in result.worst_case] == [("linf", 0.05), ("linf", 0.1)]
    assert result.worst_case[0]["top1"] == pytest.approx(np.concatenate(per_point).mean())
    assert result.worst_case[0]["top1"] <= min(a.top1 for a in result.attacks[:2])
    assert result.worst_case[1]["top1"] == result.attacks[2].top1


def test_the_probe_joins_the_worst_case_only_on_its_points_and_the_headline_is_never_above_any_attack():
    """A hand-built case: 6 points, the main attacks leave points 0-3 robust, the probe (on the first 3 points)
    breaks point 1: the worst case is points {0, 2, 3}, 50 %, below every attack and the probe's own share."""
    from kerobust.evaluation.result import AttackAccuracy, RobustnessResult

    main = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    attack = AttackAccuracy("PGD", "linf", 0.1, 20, 0.01, 4 / 6, 5 / 6, "PGD-20 linf eps=0.1")
    result = RobustnessResult(6, 1.0, 1.0, [attack], [{"norm": "linf", "eps": 0.1, "top1": 4 / 6, "top5": 5 / 6,
                                                       "attacks": [attack.description]}],
                              robust_points={("linf", 0.1): main})
    probe = RobustnessResult(3, 1.0, 1.0, [], [{"norm": "linf", "eps": 0.1, "top1": 2 / 3, "top5": 1.0,
                                                "attacks": ["Square-300 linf eps=0.1"]}],
                             robust_points={("linf", 0.1): np.array([[1, 0, 1], [1, 1, 1]], bool),
                                            ("linf", 0.2): np.array([[0, 0, 0], [1, 1, 1]], bool)})
    result.include_probe(probe)
    entry = result.accuracy_at("linf", 0.1)
    assert (entry["top1"], entry["top5"], entry["probe_points"]) == (3 / 6, 5 / 6, 3)
    assert entry["probe_attacks"] == ["Square-300 linf eps=0.1"]
    assert result.accuracy_at("linf", 0.2) is None  # no main attack ran there: nothing to join
    assert result.headline("linf", 0.1) == ("robust 50.00 % at linf eps=0.1 (worst case per point over PGD-20 and "
                                            "the masking probe's Square-300 on its 3 points)")
    assert entry["top1"] <= min(a.top1 for a in result.attacks)


@pytest.mark.slow_on_jax
def test_fit_style_evaluation_with_the_probe_reports_a_worst_case_below_every_attack(linear_digits, digits):
    from kerobust.attacks import FGSM, PGD
    from kerobust.evaluation.masking import diagnose

    model, _, _ = linear_digits
    x, y = digits.x_test[:96], digits.y_test[:96]
    result = evaluate_robustness(model, x, y, [FGSM(eps=0.05), PGD(eps=0.05, steps=5)], progress=False)
    before = result.accuracy_at("linf", 0.05)["top1"]
    diagnose(model, x, y, result, "linf", 0.05, points=48, square_queries=50)
    after = result.accuracy_at("linf", 0.05)
    assert after["top1"] <= before and after["probe_points"] == 48
    assert after["top1"] <= min(a.top1 for a in result.attacks)
    assert np.isclose(after["top1"], result.robust_points[("linf", 0.05)][0].mean())
