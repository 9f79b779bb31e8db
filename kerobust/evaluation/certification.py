"""Certified accuracy of a classifier by IBP, CROWN-IBP, CROWN, the global Lipschitz bound or randomised smoothing, per method,
threat norm and radius, with a lower bound on the worst-case margin of every point.

A point is certified when the bound proves that every input of the ball (intersected with the [0, 1] box) keeps the
label: a margin lower bound > 0. For `lipschitz` the margin bound is min_c z_y - z_c - eps L ||w_y - w_c||, with L the
sound-mode Lipschitz constant of the map to the head's input (l2; an l-inf ball of radius eps lies in the l2 ball of
radius eps sqrt(d)). `smoothing` (l2 only) certifies the smoothed classifier, not the model itself, and holds with
probability 1 - alpha; its "margin" is the certified radius minus eps.
"""

import dataclasses
import math

import numpy as np

from kerobust.catalog import CERTIFY_METHODS as METHODS
from kerobust.attacks.lp_geometry import l2_radius_factor
from kerobust.attacks.predictions import predict_batches
from kerobust.attacks.lp_geometry import NORMS
from kerobust.errors import KerobustError, unknown_name


@dataclasses.dataclass(frozen=True)
class SmoothingSettings:
    """Cohen et al.'s CERTIFY: noise sigma, estimation samples n, selection samples n0, failure probability alpha."""

    sigma: float = 0.25
    samples: int = 1000
    selection_samples: int = 100
    alpha: float = 0.001

    def check(self):
        if not self.sigma > 0:
            raise KerobustError(f"smoothing sigma must be > 0, got {self.sigma}.")
        if self.samples < 1 or self.selection_samples < 1:
            raise KerobustError(f"smoothing needs at least one sample, got {self.samples} and {self.selection_samples}.")
        if not 0 < self.alpha < 1:
            raise KerobustError(f"smoothing alpha must be in (0, 1), got {self.alpha}.")


def check_request(methods, threat_norm, eps_values):
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


def lipschitz_margins(model, x, y, eps_l2, evaluator=None):
    """(N,) min_c z_y - z_c - eps L ||w_y - w_c|| (w: the Dense head's columns, or the logits' unit vectors)."""
    return _lipschitz_margins_by_eps(model, x, y, [eps_l2], evaluator)[0]


def _lipschitz_margins_by_eps(model, x, y, radii, evaluator=None):
    """`lipschitz_margins` at each l2 radius, from one pass of the features and one set of Lipschitz constants
    (`evaluator`: a sound-mode `BoundEvaluator` of `model` to reuse, whose `lipschitz` is the constant used)."""
    from kerobust.bounds import BoundEvaluator

    evaluator = evaluator or BoundEvaluator(model, "sound", jit=False)
    features = np.asarray(predict_batches(evaluator.probe, np.asarray(x, evaluator.dtype)), "float64")
    head = evaluator.head.layer
    if head is None:
        logits, kernel = features, np.eye(features.shape[1])
    else:
        kernel = np.asarray(head.kernel, "float64")
        logits = features @ kernel + (np.asarray(head.bias, "float64") if head.use_bias else 0.0)
    rows = np.arange(len(y))
    gaps = logits[rows, y][:, None] - logits
    spreads = evaluator.lipschitz * np.linalg.norm(kernel[:, y].T[:, :, None] - kernel[None], axis=1)  # L ||w_y - w_c||
    found = []
    for eps in radii:
        margins = gaps - eps * spreads
        margins[rows, y] = np.inf
        found.append(margins.min(axis=1))
    return found


def certify(model, x, y, methods, threat_norm, eps_values, smoothing=SmoothingSettings(), batch_size=None,
            progress=None):
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
        for eps, margins, extra in _margins_by_eps(model, x, y, method, threat_norm, eps_values, smoothing,
                                                   batch_size, progress):
            results.append({"method": method, "threat_norm": threat_norm, "eps": float(eps),
                            "certified_accuracy": float(np.mean(margins > 0)), "clean_accuracy": clean,
                            "margin_lower_bound": [float(m) for m in margins], **extra})
    return results


def _margins_by_eps(model, x, y, method, threat_norm, eps_values, smoothing, batch_size, progress):
    if method in ("ibp", "crown-ibp", "crown"):
        from kerobust.bounds.crown import CrownBounds
        from kerobust.bounds.interval import IntervalBounds

        if method == "ibp":
            bounds = IntervalBounds(model, threat_norm)
        else:
            bounds = CrownBounds(model, threat_norm, intermediate="crown" if method == "crown" else "ibp")
        size = batch_size or (256 if method == "ibp" else bounds.default_batch_size())
        for index, eps in enumerate(eps_values):
            parts = []
            for start in range(0, len(x), size):
                parts.append(bounds(x[start:start + size], y[start:start + size], eps, batch_size=size))
                if progress is not None:
                    progress(method, index * len(x) + start + len(parts[-1]), len(eps_values) * len(x))
            yield eps, np.concatenate(parts) if parts else np.zeros(0), {}
    elif method == "lipschitz":
        scale = l2_radius_factor(threat_norm, x[0].size)
        found = _lipschitz_margins_by_eps(model, x, y, [eps * scale for eps in eps_values])
        for eps, margins in zip(eps_values, found):
            yield eps, margins, {}
    else:
        from kerobust.bounds.smoothing import certify_smoothed

        smoothing.check()
        tracker = None if progress is None else (lambda done: progress(method, done, len(x)))
        found = certify_smoothed(model, x, smoothing.sigma, smoothing.samples, smoothing.selection_samples,
                                 smoothing.alpha, progress=tracker)
        correct = found.prediction == y
        extra = {"certified_radius": [float(r) for r in np.where(correct, found.radius, 0.0)],
                 "abstentions": int(np.sum(found.prediction < 0)), "smoothed_accuracy": float(np.mean(correct)),
                 "sigma": smoothing.sigma, "samples": smoothing.samples, "alpha": smoothing.alpha,
                 "probabilistic": True}
        for eps in eps_values:
            yield eps, np.where(correct, found.radius - eps, -eps - found.radius), extra
