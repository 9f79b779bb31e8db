"""One interface for every certification method, and `best_of`, the one place their bounds are combined.

A certifier answers `margins(x, y, eps)`: for each point a lower bound on min_{c != y} z_y(x') - z_c(x') over the
threat-norm ball of radius `eps` around x, intersected with the [0, 1] box; the point is certified when it is > 0.
Each deterministic bound is sound, so their per-point maximum is sound too (`best_of`). `fit`'s certified block, the
tuner's objective, the TensorBoard dashboard, the exported `certify` signature and `kerobust certify` all build their
certifiers here.

Methods: IBP (Gowal et al. 2018, "On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust
Models"), CROWN-IBP (Zhang et al. 2020, "Towards Stable and Efficient Training of Verifiably Robust Neural
Networks"), CROWN (Zhang et al. 2018, "Efficient Neural Network Robustness Certification with General Activation
Functions"), the global Lipschitz bound (Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-Margin Training", Proposition 2:
z_y - z_c - eps L ||w_y - w_c||, with L the sound-mode constant of the map to the head's input, docs/bounds.md
section 8), and randomised smoothing (Cohen, Rosenfeld & Kolter 2019, "Certified Adversarial Robustness via
Randomized Smoothing", Theorem 1; it certifies the smoothed classifier, with probability 1 - alpha, and its "margin"
is the certified l2 radius minus eps).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import TYPE_CHECKING, Any, Sequence

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.attacks.lp_geometry import l2_radius_factor
from kerobust.attacks.predictions import predict_batches
from kerobust.bounds.lipschitz.output_margin import pair_distances
from kerobust.errors import KerobustError
from kerobust.types import Array, Progress, Tensor

if TYPE_CHECKING:
    from kerobust.bounds import BoundEvaluator
    from kerobust.bounds.smoothing import SmoothingCertificate



def best_of(margins: Sequence[Any]) -> Any:
    """The per-point maximum of sound margin lower bounds (numpy arrays or tensors of one shape): sound, and at least
    as tight as each."""
    if not margins:
        raise ValueError("best_of needs at least one certifier's margins")
    best = margins[0]
    for found in margins[1:]:
        best = ops.maximum(best, found) if not isinstance(best, np.ndarray) else np.maximum(best, found)
    return best


class Certifier(abc.ABC):
    """A certification method bound to one model and threat norm."""

    name: str
    threat_norm: str
    probabilistic = False  # True: the certificate holds with probability 1 - alpha, for the smoothed classifier

    @abc.abstractmethod
    def margins(self, x: np.ndarray, y: np.ndarray, eps: float, progress: Progress | None = None) -> np.ndarray:
        """(N,) lower bounds on min_{c != y} z_y - z_c over the ball of radius `eps` around each x (numpy)."""

    def details(self) -> dict:
        """Extra fields of this method's result (smoothing: its radii, abstentions and settings)."""
        return {}


class BoxCertifier(Certifier):
    """IBP, CROWN-IBP or CROWN: bounds propagated through the network over the ball intersected with the box."""

    def __init__(self, model: keras.Model, name: str, threat_norm: str, jit: Any = "auto",
                 batch_size: int | None = None):
        from kerobust.bounds.linear.crown import CrownBounds
        from kerobust.bounds.linear.interval import IntervalBounds

        self.name, self.threat_norm = name, threat_norm
        self.bounds: IntervalBounds | CrownBounds
        if name == "ibp":
            self.bounds = IntervalBounds(model, threat_norm, jit=jit)
        else:
            self.bounds = CrownBounds(model, threat_norm, intermediate="crown" if name == "crown" else "ibp", jit=jit)
        self.batch_size = batch_size or (256 if isinstance(self.bounds, IntervalBounds)
                                         else self.bounds.default_batch_size())

    def margins(self, x: Array, y: Array, eps: float, progress: Progress | None = None) -> Array:
        parts = []
        for start in range(0, len(x), self.batch_size):
            stop = start + self.batch_size
            parts.append(self.bounds(x[start:stop], y[start:stop], eps, batch_size=self.batch_size))
            if progress is not None:
                progress(start + len(parts[-1]), len(x))
        return np.concatenate(parts) if parts else np.zeros(0)

    def margin_tensor(self, x: Tensor, labels: Tensor, eps: float | Tensor) -> Tensor:
        """(N,) the same bound as a traceable `keras.ops` tensor (`-inf` for an image outside [0, 1])."""
        bounds = self.bounds.margin_bounds(x, labels, eps)
        onehot = ops.one_hot(labels, bounds.shape[-1], dtype=bounds.dtype)
        inside = ops.all(ops.logical_and(x >= 0.0, x <= 1.0), axis=tuple(range(1, len(x.shape))))
        return ops.where(inside, ops.min(ops.where(onehot > 0, float("inf"), bounds), axis=-1), -float("inf"))


class LipschitzCertifier(Certifier):
    """The global Lipschitz bound: min_c z_y - z_c - eps_l2 L ||w_y - w_c|| (w: the Dense head's columns, or the
    logits' unit vectors); an l-inf ball of radius eps lies in the l2 ball of radius eps sqrt(d).

    Args:
        model: the classifier.
        threat_norm: "linf" or "l2".
        evaluator: a sound-mode `BoundEvaluator` of `model` to reuse (its `lipschitz` is the constant used).
    """

    name = "lipschitz"

    def __init__(self, model: keras.Model, threat_norm: str, evaluator: BoundEvaluator | None = None):
        from kerobust.bounds import BoundEvaluator

        self.threat_norm = threat_norm
        self.evaluator = evaluator or BoundEvaluator(model, "sound", jit=False)
        self.to_l2 = l2_radius_factor(threat_norm, math.prod(model.input_shape[1:]))

    def refresh(self) -> float:
        """Recomputes the constant for the model's current weights (during training); returns it."""
        self.evaluator.lipschitz = self.evaluator.current_lipschitz()
        return float(self.evaluator.lipschitz)

    def _logits_and_kernel(self, features):
        head = self.evaluator.head.layer
        if head is None:
            return features, None
        kernel = ops.cast(head.kernel, features.dtype)
        bias = ops.cast(head.bias, features.dtype) if head.use_bias else 0.0
        return ops.matmul(features, kernel) + bias, kernel

    def _gaps_and_spreads(self, features, labels):
        """(N, C) z_y - z_c and L ||w_y - w_c|| (column y: gap 0)."""
        logits, kernel = self._logits_and_kernel(features)
        onehot = ops.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        gaps = ops.sum(logits * onehot, axis=-1, keepdims=True) - logits
        spreads = ops.cast(self.evaluator.lipschitz, logits.dtype) * pair_distances(kernel, labels, logits)
        return gaps, spreads, onehot

    def margin_tensor(self, x: Tensor | None, labels: Tensor, eps: float | Tensor,
                      features: Tensor | None = None) -> Tensor:
        """(N,) the bound as a traceable `keras.ops` tensor (`features`: the head's inputs, if already computed)."""
        features = self.evaluator.probe(x, training=False) if features is None else features
        gaps, spreads, onehot = self._gaps_and_spreads(features, labels)
        return ops.min(ops.where(onehot > 0, float("inf"), gaps - eps * self.to_l2 * spreads), axis=-1)

    def radius_tensor(self, x: Tensor, labels: Tensor) -> Tensor:
        """(N,) the certified radius min_c (z_y - z_c) / (L ||w_y - w_c||) in the threat norm."""
        gaps, spreads, onehot = self._gaps_and_spreads(self.evaluator.probe(x, training=False), labels)
        ratios = ops.where(spreads > 0, gaps / ops.where(spreads > 0, spreads, 1.0), float("inf"))
        return ops.min(ops.where(onehot > 0, float("inf"), ratios), axis=-1) / self.to_l2

    def margins(self, x: Array, y: Array, eps: float, progress: Progress | None = None) -> Array:
        """In float64 where the backend computes it (JAX only with JAX_ENABLE_X64), from one pass of the features."""
        dtype = "float64" if backend.supports_float64() else "float32"
        features = np.asarray(predict_batches(self.evaluator.probe, np.asarray(x, self.evaluator.dtype)), dtype)
        found = np.asarray(self.margin_tensor(None, np.asarray(y, "int64"), eps, features=features))
        if progress is not None:
            progress(len(x), len(x))
        return found


@dataclasses.dataclass(frozen=True)
class SmoothingSettings:
    """Cohen et al.'s CERTIFY: noise sigma, estimation samples n, selection samples n0, failure probability alpha."""

    sigma: float = 0.25
    samples: int = 1000
    selection_samples: int = 100
    alpha: float = 0.001

    def check(self) -> None:
        if not self.sigma > 0:
            raise KerobustError(f"smoothing sigma must be > 0, got {self.sigma}.")
        if self.samples < 1 or self.selection_samples < 1:
            raise KerobustError(f"smoothing needs at least one sample, got {self.samples} and "
                                f"{self.selection_samples}.")
        if not 0 < self.alpha < 1:
            raise KerobustError(f"smoothing alpha must be in (0, 1), got {self.alpha}.")


class SmoothingCertifier(Certifier):
    """Randomised smoothing (l2 only): the certified radius R of the smoothed classifier; margin R - eps where it
    predicts y, -eps - R elsewhere. The sampling is done once per set of points and reused for every eps."""

    name = "smoothing"
    probabilistic = True

    def __init__(self, model: keras.Model, threat_norm: str, settings: SmoothingSettings = SmoothingSettings()):
        if threat_norm != "l2":
            raise KerobustError("smoothing certifies l2 radii; use --threat-norm l2 (or drop smoothing).")
        settings.check()
        self.model, self.threat_norm, self.settings = model, threat_norm, settings
        self._points: tuple[Array, Array] | None = None
        self._found: SmoothingCertificate | None = None

    def _certificates(self, x, y, progress):
        from kerobust.bounds.smoothing import certify_smoothed

        if self._points is None or self._points[0] is not x or self._points[1] is not y:
            s = self.settings
            self._found = certify_smoothed(self.model, x, s.sigma, s.samples, s.selection_samples, s.alpha,
                                           progress=None if progress is None else (lambda done: progress(done, len(x))))
            self._points = (x, y)
        return self._found

    def margins(self, x: Array, y: Array, eps: float, progress: Progress | None = None) -> Array:
        found = self._certificates(x, y, progress)
        correct = found.prediction == y
        return np.where(correct, found.radius - eps, -eps - found.radius)

    def details(self) -> dict:
        found: SmoothingCertificate = self._found  # type: ignore[assignment]  # set by margins(), which comes first
        y = self._points[1]  # type: ignore[index]  # likewise
        correct = found.prediction == y
        s = self.settings
        return {"certified_radius": [float(r) for r in np.where(correct, found.radius, 0.0)],
                "abstentions": int(np.sum(found.prediction < 0)), "smoothed_accuracy": float(np.mean(correct)),
                "sigma": s.sigma, "samples": s.samples, "alpha": s.alpha, "probabilistic": True}


def build_certifier(model: keras.Model, method: str, threat_norm: str,
                    smoothing: SmoothingSettings = SmoothingSettings(), batch_size: int | None = None,
                    jit: Any = "auto") -> Certifier:
    """The certifier of `method` (a name of `kerobust.catalog.CERTIFY_METHODS`) for `model`.

    Raises:
        KerobustError: when the method does not apply to the model (a layer without a rule, random layers).
    """
    if method in ("ibp", "crown-ibp", "crown"):
        return BoxCertifier(model, method, threat_norm, jit=jit, batch_size=batch_size)
    if method == "lipschitz":
        return LipschitzCertifier(model, threat_norm)
    return SmoothingCertifier(model, threat_norm, smoothing)


def applicable_certifiers(model: keras.Model, methods: Sequence[str], threat_norm: str,
                          jit: Any = "auto") -> tuple[list[Certifier], dict[str, str]]:
    """The certifiers of `methods` that apply to `model`, and `{method: why not}` for those that do not."""
    found, reasons = [], {}
    for method in methods:
        try:
            found.append(build_certifier(model, method, threat_norm, jit=jit))
        except KerobustError as error:
            reasons[method] = str(error)
    return found, reasons


def best_certified_accuracy(certifiers: Sequence[Certifier], x: Array, y: Array,
                            eps: float) -> tuple[float, dict[str, float], np.ndarray]:
    """`(share certified by the best of them, {method: its own share}, the best margins)` at radius `eps`."""
    found = {certifier.name: certifier.margins(x, y, eps) for certifier in certifiers}
    best = best_of(list(found.values()))
    return float(np.mean(best > 0)), {name: float(np.mean(m > 0)) for name, m in found.items()}, best
