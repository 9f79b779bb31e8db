"""Certified accuracy of a classifier by IBP, CROWN-IBP, CROWN, the global Lipschitz bound or randomised smoothing, per
method, threat norm and radius, with a lower bound on the worst-case margin of every point.

A point is certified when the bound proves that every input of the ball (intersected with the [0, 1] box) keeps the
label: a margin lower bound > 0. For `lipschitz` the margin bound is min_c z_y - z_c - eps L ||w_y - w_c||, with L the
sound-mode Lipschitz constant of the map to the head's input (l2; an l-inf ball of radius eps lies in the l2 ball of
radius eps sqrt(d)). `smoothing` (l2 only) certifies the smoothed classifier, not the model itself, and holds with
probability 1 - alpha; its "margin" is the certified radius minus eps. Each method is a `Certifier`
(`kerobust.evaluation.certifiers`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

import keras
import numpy as np

from kerobust.attacks.lp_geometry import NORMS
from kerobust.attacks.predictions import predict_batches
from kerobust.catalog import CERTIFY_METHODS as METHODS
from kerobust.errors import KerobustError, unknown_name
from kerobust.evaluation.certifiers import Certifier, LipschitzCertifier, SmoothingSettings, build_certifier
from kerobust.types import Array, ArrayLike

if TYPE_CHECKING:
    from kerobust.bounds import BoundEvaluator

__all__ = ["METHODS", "SmoothingSettings", "TIGHTEST_ORDER", "certify", "check_request", "lipschitz_margins",
           "tightest_margins"]


def check_request(methods: Sequence[str], threat_norm: str, eps_values: Sequence[float]) -> None:
    """One-line errors for a certification request, before any model is loaded."""
    for method in methods:
        if method not in METHODS:
            raise unknown_name("certification method", method, METHODS)
    if threat_norm not in NORMS:
        raise unknown_name("threat norm", threat_norm, NORMS)
    if "smoothing" in methods and threat_norm != "l2":
        raise KerobustError("smoothing certifies l2 radii; use --threat-norm l2 (or drop smoothing).")
    if not eps_values or any(not math.isfinite(e) or e < 0 for e in eps_values):
        raise KerobustError(f"eps must be finite and >= 0, got {eps_values}.")


def lipschitz_margins(model: keras.Model, x: Array, y: Array, eps_l2: float,
                      evaluator: BoundEvaluator | None = None) -> np.ndarray:
    """(N,) the global Lipschitz bound's margins at l2 radius `eps_l2` (`LipschitzCertifier`)."""
    return LipschitzCertifier(model, "l2", evaluator).margins(x, y, eps_l2)


def certify(model: keras.Model, x: ArrayLike, y: ArrayLike, methods: Sequence[str], threat_norm: str,
            eps_values: Sequence[float], smoothing: SmoothingSettings = SmoothingSettings(),
            batch_size: int | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """One result per method and eps: {"method", "threat_norm", "eps", "certified_accuracy", "clean_accuracy",
    "margin_lower_bound": [per point]}; smoothing adds its radii, abstentions and settings.

    Args:
        model: a Keras classifier of [0, 1] images.
        x, y: test points (numpy) and labels.
        methods: names from `METHODS`.
        threat_norm: "linf" or "l2".
        eps_values: radii in pixel units.
        progress: optional `progress(method, done, total)` callback.
    """
    check_request(methods, threat_norm, eps_values)
    x, y = np.asarray(x, "float32"), np.asarray(y, "int64")
    clean = float(np.mean(np.argmax(predict_batches(model, x), axis=1) == y))
    results = []
    for method in methods:
        certifier = build_certifier(model, method, threat_norm, smoothing=smoothing, batch_size=batch_size)
        for index, eps in enumerate(eps_values):
            runs = 1 if certifier.probabilistic else len(eps_values)  # smoothing samples once for every eps
            tracker = None if progress is None else (
                lambda done, total, index=index, runs=runs: progress(method, index % runs * total + done, runs * total))
            margins = certifier.margins(x, y, eps, progress=tracker)
            results.append({"method": method, "threat_norm": threat_norm, "eps": float(eps),
                            "certified_accuracy": float(np.mean(margins > 0)), "clean_accuracy": clean,
                            "margin_lower_bound": [float(m) for m in margins], **certifier.details()})
    return results


TIGHTEST_ORDER = ("ibp", "crown-ibp", "lipschitz", "crown")  # cheapest first; full CROWN costs a pass per neuron


def tightest_margins(model: keras.Model, x: ArrayLike, y: ArrayLike, threat_norm: str, eps_values: Sequence[float],
                     methods: Sequence[str] = TIGHTEST_ORDER) -> list[tuple[np.ndarray, list[str | None]]]:
    """Per radius of `eps_values`: per point the largest margin lower bound of the sound `methods` (a maximum of lower
    bounds is a lower bound), and the first method whose bound certified it (None: none did).

    The first method bounds every point; each later one only the points still uncertified that the model classifies
    correctly (no sound bound certifies a misclassified point), so that an expensive bound last in the order (full
    CROWN) runs on few points of a certifiably trained network. Each method's certifier is built once for all radii.
    """
    check_request(methods, threat_norm, eps_values)
    if "smoothing" in methods:
        raise KerobustError("tightest_margins takes sound bounds only; smoothing's certificate is probabilistic.")
    x, y = np.asarray(x, "float32"), np.asarray(y, "int64")
    correct = np.argmax(predict_batches(model, x), axis=1) == y
    certifiers: dict[str, Certifier] = {}
    results = []
    for eps in eps_values:
        margins = np.full(len(x), -np.inf)
        decided_by: list[str | None] = [None] * len(x)
        for position, method in enumerate(methods):
            todo = np.arange(len(x)) if position == 0 else np.flatnonzero(correct & (margins <= 0))
            if not len(todo):
                break
            if method not in certifiers:
                certifiers[method] = build_certifier(model, method, threat_norm)
            found = np.asarray(certifiers[method].margins(x[todo], y[todo], eps), "float64")
            for index in todo[found > 0]:  # every point in `todo` was uncertified until now
                decided_by[index] = method
            margins[todo] = np.maximum(margins[todo], found)
        results.append((margins, decided_by))
    return results
