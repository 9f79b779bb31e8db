"""Epsilon sweeps (table and PNG), the RobustBench-style summary and attack lists from the command line."""

import pytest

from kerobust.attacks import APGD, FGSM, PGD, AttackSuite, Square
from kerobust.errors import KerobustError
from kerobust.evaluation import evaluate_robustness
from kerobust.evaluation.attack_specs import AttackOptions, build_attacks, parse_attack_list
from kerobust.evaluation.summary import robustbench_summary
from kerobust.evaluation.sweep import format_sweep_table, plot_sweep, sweep_curves

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def sweep(linear_digits, digits):
    model, _, _ = linear_digits
    attacks = [a for eps in (0.02, 0.05, 0.1) for a in (FGSM(eps=eps), PGD(eps=eps, steps=5))]
    return evaluate_robustness(model, digits.x_test[:100], digits.y_test[:100], attacks, progress=False)


@pytest.mark.slow_on_jax
def test_sweep_curves_table_and_plot(sweep, tmp_path):
    curves = sweep_curves(sweep)
    assert list(curves) == ["FGSM", "PGD-5", "all attacks"]
    assert [eps for eps, _ in curves["PGD-5"]] == [0.02, 0.05, 0.1]
    assert [acc for _, acc in curves["PGD-5"]] == [a.top1 for a in sweep.attacks if a.name == "PGD"]
    table = format_sweep_table({"linear": sweep, "copy": sweep}).splitlines()
    assert table[0].split("|")[1:-1] == [" Model  ", " Attack      ", " eps=0.02 ", " eps=0.05 ", " eps=0.1 "]
    assert len(table) == 2 + 2 * 3 and f"{100 * sweep.attacks[5].top1:.2f}" in table[3]
    path = tmp_path / "sweep.png"
    plot_sweep({"linear": sweep, "copy": sweep}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_robustbench_summary(sweep):
    summary = robustbench_summary(sweep, "digits", "linf", 0.05)
    assert summary["threat_model"] == "Linf" and summary["num_points"] == 100 and summary["autoattack_acc"] is None
    assert summary["clean_acc"] == round(100 * sweep.clean_top1, 2)
    assert summary["robust_acc"] == round(100 * sweep.worst_case[1]["top1"], 2)
    assert summary["attacks"] == ["FGSM linf eps=0.05", "PGD-5 linf eps=0.05"]
    assert robustbench_summary(sweep, "digits", "linf", 0.3)["robust_acc"] is None


def test_attack_lists_parse_and_build():
    specs = parse_attack_list("fgsm, pgd-20,APGD-CE,apgd-t-50,square-300,autoattack")
    assert specs == [("fgsm", None), ("pgd", 20), ("apgd-ce", None), ("apgd-t", 50), ("square", 300),
                     ("autoattack", None)]
    attacks = build_attacks(specs, 0.1, AttackOptions(step_size=0.02, restarts=2, eot_samples=3,
                                                      square_queries=100))
    fgsm, pgd, apgd_ce, apgd_t, square, suite = attacks
    assert fgsm == FGSM(eps=0.1, eot_samples=3)
    assert pgd == PGD(eps=0.1, steps=20, step_size=0.02, restarts=2, eot_samples=3)
    assert apgd_ce == APGD(eps=0.1, steps=100, restarts=2, eot_samples=3)
    assert apgd_t.targets == 9 and apgd_t.steps == 50 and square == Square(eps=0.1, queries=300)
    assert isinstance(suite, AttackSuite) and suite.name == "autoattack-rand"  # --eot 3: the rand version
    assert suite.members[0].eot_samples == 3
    (square_suite,) = build_attacks([("autoattack", None)], 0.1, AttackOptions(square_queries=100))
    assert square_suite.members[-1].queries == 100


@pytest.mark.parametrize("text, message", [
    ("pgd,cw", "unknown attack 'cw'"), ("fgsm-3", "step count"), ("pgd-0", "step count"), ("", "empty"),
    ("autoattack-5", "step count"),
])
def test_bad_attack_lists_are_one_line_errors(text, message):
    with pytest.raises(KerobustError, match=message):
        parse_attack_list(text)
