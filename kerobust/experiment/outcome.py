"""How a fit ended: a training that stayed at chance is a failure, said in one line; a finished run is a result that
the same command shows again instead of redoing."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from kerobust.wording import plural

if TYPE_CHECKING:
    from kerobust.types import ArrayLike

FAILURE_P_VALUE = 0.01  # a run fails when its clean accuracy is not above chance at this significance


def chance_failure(clean_top1: float, labels: ArrayLike, train_method: str) -> str | None:
    """The one-line reason a run failed, or None: its clean test accuracy is not significantly above what always
    answering the commonest test class gives (a one-sided binomial test at `FAILURE_P_VALUE`).

    Args:
        clean_top1: clean top-1 accuracy on the test points.
        labels: the test labels.
        train_method: the `--train-method`, which names the likely cause.
    """
    from scipy.stats import binom

    labels = np.asarray(labels)
    points = len(labels)
    chance = np.bincount(labels).max() / points
    correct = int(round(clean_top1 * points))
    if binom.sf(correct - 1, points, chance) < FAILURE_P_VALUE:  # P(X >= correct) under chance
        return None
    from kerobust.training.registry import CERTIFIED

    if train_method in CERTIFIED:
        cause = ("certified training collapsed, most often because eps grows too fast for the run: train longer "
                 "(--epochs) or lengthen --cert-warmup-epochs and --cert-ramp-epochs")
    elif train_method == "natural":
        cause = "lower --lr or train longer (--epochs)"
    else:
        cause = ("the training attack may be too strong for this model and schedule: lower --eps or --lr, "
                 "or train longer")
    return (f"training failed: clean test accuracy {100 * clean_top1:.2f} % is no better than chance (the commonest "
            f"class is {100 * chance:.2f} % of the {points} test points); {cause}.")


def finished_metrics(metrics_path: str) -> dict[str, Any] | None:
    """The stored `metrics.json` of a run that finished (evaluated, and exported or reported as failed), else None."""
    from kerobust.output_paths import read_json_object

    metrics = read_json_object(metrics_path)
    if metrics is None:
        return None
    # skipped: a failed training, or --export false
    finished = metrics.get("status") == "failed" or (metrics.get("export") or {}).get("status") in ("ok", "skipped")
    return metrics if finished else None


def describe_stored(metrics: Mapping[str, Any], run_dir: str) -> list[str]:
    """The lines that show a finished run's stored result."""
    seconds = metrics.get("train_seconds")
    trained = f", trained in {seconds:.1f} s" if isinstance(seconds, (int, float)) and math.isfinite(seconds) else ""
    epochs = plural(metrics.get("epochs") or 0, "epoch")
    lines = [f"kerobust fit: {run_dir} holds a finished run ({epochs}{trained}); nothing was changed. Its stored "
             "results:",
             f"  clean accuracy {100 * metrics['clean']['top1']:.2f} % on {metrics['num_points']} test points"]
    from kerobust.evaluation.result import RobustnessResult  # here: kerobust.evaluation loads Keras

    evaluation = RobustnessResult.from_json(metrics)
    summary = metrics.get("robustbench") or {}
    if summary.get("eps") is not None and metrics.get("threat_norm"):
        lines.append(f"  {evaluation.headline(metrics['threat_norm'], summary['eps'])}")
    lines += [f"  {a.description or a.name}: {100 * a.top1:.2f} %" for a in evaluation.reported_attacks()]
    certified = metrics.get("certified")
    if certified:
        lines.append(f"  certified accuracy at {certified['threat_norm']} eps {certified['eps']:g}: "
                     f"{100 * certified['certified_accuracy']:.2f} %")
    lines.append(f"  details: {os.path.join(run_dir, 'metrics.json')}. To evaluate it again (the training figures are "
                 "kept), add --reevaluate.")
    return lines
