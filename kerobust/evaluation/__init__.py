"""Robust accuracy (top-1 / top-5) under attacks, tables in the layout of Table 1 of O'Hanlon (2021), "Adversarial
Robustness of Convolutional Networks", result JSON."""

from kerobust.evaluation.report import format_table, write_metrics
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult
from kerobust.evaluation.robust_accuracy import evaluate_robustness
from kerobust.evaluation.standard_attacks import standard_attacks

__all__ = ["AttackAccuracy", "RobustnessResult", "evaluate_robustness", "format_table", "standard_attacks", "write_metrics"]
