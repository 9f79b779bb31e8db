"""Summaries of per-sample bounds on the smallest adversarial l2 perturbation, as in Table 5.1 of Peck 2017,
"Robustness of Classifiers to Adversarial Perturbations" (MSc thesis, Ghent University): mean, median, extremes, the
thesis's normalised mean, and certified shares per radius."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from kerobust.types import Array

if TYPE_CHECKING:
    import keras

    from kerobust.bounds.lipschitz.evaluator import BoundEvaluator

DEFAULT_EPS = (0.05, 0.1, 0.25, 0.5)


def bounds_and_summary(evaluator: BoundEvaluator, model: keras.Model, x: Array, y: Array,
                       eps_values: Iterable[float] = DEFAULT_EPS) -> tuple[Array, dict[str, Any]]:
    """The evaluator's per-sample bounds on `x`, and their `summary` with the model's decisions on (x, y)."""
    from kerobust.bounds.lipschitz.attack_check import predictions

    bounds = evaluator(x)
    return bounds, summary(bounds, y, predictions(model, x), eps_values, input_size(x))


def input_size(x: Array) -> int:
    """Elements per input (the thesis normalises its mean bounds by it)."""
    return int(np.prod(x.shape[1:]))


def summary(bounds: Array, labels: Array, predicted: Array, eps_values: Iterable[float],
            input_size: int) -> dict[str, Any]:
    """Mean, median, min, max, the thesis's normalised mean (divided by the input element count), and per eps the
    share of points with bound >= eps and the certified accuracy (correct and bound >= eps)."""
    correct = predicted == labels
    return {
        "points": int(len(bounds)), "clean_accuracy": float(correct.mean()),
        "mean": float(np.mean(bounds)), "median": float(np.median(bounds)), "min": float(np.min(bounds)),
        "max": float(np.max(bounds)), "normalised_mean": float(np.mean(bounds) / input_size),
        "certified": {f"{eps:g}": {"share": float(np.mean(bounds >= eps)),
                                   "accuracy": float(np.mean(correct & (bounds >= eps)))} for eps in eps_values},
    }
