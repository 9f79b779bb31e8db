"""A RobustBench-style summary of an evaluation (the fields of RobustBench model cards, accuracies in percent).

Reference: Croce et al. 2021, "RobustBench: a standardized adversarial robustness benchmark" (threat models "Linf"
and "L2", clean and robust accuracy on a fixed set of test points, AutoAttack as the standard attack).
"""

from __future__ import annotations

from typing import Any

from kerobust.evaluation.result import RobustnessResult

THREAT_MODELS = {"linf": "Linf", "l2": "L2"}


def robustbench_summary(result: RobustnessResult, dataset: str, norm: str, eps: float) -> dict[str, Any]:
    """`{"dataset", "threat_model", "eps", "num_points", "clean_acc", "robust_acc", "autoattack_acc", "attacks"}`:
    `robust_acc` counts points robust to every attack run at (norm, eps); `autoattack_acc` is the `autoattack`
    suite's own accuracy when it ran."""
    entry = result.accuracy_at(norm, float(eps))
    suite = [a for a in result.attacks if a.name == "autoattack" and a.norm == norm and a.eps == float(eps)]
    return {
        "dataset": dataset,
        "threat_model": THREAT_MODELS[norm],
        "eps": float(eps),
        "num_points": result.num_points,
        "clean_acc": round(100 * result.clean_top1, 2),
        "robust_acc": None if entry is None else round(100 * entry["top1"], 2),
        "autoattack_acc": round(100 * suite[0].top1, 2) if suite else None,
        "attacks": [] if entry is None else entry["attacks"],
    }
