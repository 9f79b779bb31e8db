"""Robust accuracy (top-1 / top-5) under attacks, tables in the layout of Table 1 of O'Hanlon (2021), "Adversarial
Robustness of Convolutional Networks", result JSON; certification by every method through one `Certifier`
interface, combined per point by `best_of`."""

from kerobust.evaluation.certification import certify
from kerobust.evaluation.certifiers import (
    BoxCertifier, Certifier, LipschitzCertifier, SmoothingCertifier, SmoothingSettings, applicable_certifiers, best_of,
    build_certifier,
)
from kerobust.evaluation.report import format_table, write_metrics
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult
from kerobust.evaluation.robust_accuracy import evaluate_robustness
from kerobust.evaluation.standard_attacks import standard_attacks

__all__ = [
    "AttackAccuracy", "BoxCertifier", "Certifier", "LipschitzCertifier", "RobustnessResult", "SmoothingCertifier",
    "SmoothingSettings", "applicable_certifiers", "best_of", "build_certifier", "certify", "evaluate_robustness",
    "format_table", "standard_attacks", "write_metrics",
]
