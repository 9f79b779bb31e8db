"""Minimal adversarial perturbations from one FAB-T run, and the robust-accuracy curve over eps they give.

Reference: Croce & Hein 2020, "Minimally Distorted Adversarial Examples with a Fast Adaptive Boundary Attack": a
minimum-norm attack answers every radius at once, since a point counts as robust at eps exactly when the smallest
perturbation found for it is larger than eps. The norms found are upper bounds on the true smallest perturbations,
so the curve is an upper bound on the robust accuracy at each eps.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from kerobust.attacks.fab import FAB
from kerobust.evaluation.report import markdown
from kerobust.figures import png_figure
from kerobust.progress import progress_bar
from kerobust.types import Array, ArrayLike


@dataclasses.dataclass
class MinimalPerturbations:
    """Per point, the norm of the smallest adversarial perturbation found (0: misclassified already; infinity: none
    found), by `attack` (a description such as `FAB-T-100 x9 targets`)."""

    attack: str
    norm: str
    norms: Array

    def robust_accuracy(self, eps: float) -> float:
        """The share of points whose smallest perturbation found is larger than `eps`."""
        return float(np.mean(self.norms > eps)) if len(self.norms) else 0.0

    def curve(self, radii: Sequence[float]) -> list[tuple[float, float]]:
        """`[(eps, robust accuracy)]` at each radius."""
        return [(float(eps), self.robust_accuracy(eps)) for eps in radii]

    def summary(self) -> dict[str, float | int]:
        """Median and mean of the finite norms over the points classified correctly, and how many had none found."""
        attacked = self.norms[self.norms > 0]
        finite = attacked[np.isfinite(attacked)]
        return {"points": int(len(self.norms)), "misclassified": int(np.sum(self.norms == 0)),
                "not_found": int(np.sum(~np.isfinite(self.norms))),
                "median": float(np.median(finite)) if len(finite) else float("nan"),
                "mean": float(np.mean(finite)) if len(finite) else float("nan")}

    def to_json(self, radii: Sequence[float]) -> dict[str, Any]:
        """`{"attack", "norm", "summary", "curve": [{"eps", "robust_accuracy"}], "norms"}` (infinity as null)."""
        return {"attack": self.attack, "norm": self.norm, "summary": self.summary(),
                "curve": [{"eps": eps, "robust_accuracy": acc} for eps, acc in self.curve(radii)],
                "norms": [float(v) if np.isfinite(v) else None for v in self.norms]}


def minimal_perturbations(model: keras.Model, x: ArrayLike, y: ArrayLike, norm: str = "linf", targets: int = 9,
                          eps: float = 0.0, steps: int = 100, batch_size: int = 256, seed: int = 0,
                          progress: bool = True) -> MinimalPerturbations:
    """The smallest perturbation FAB-T (`targets` classes, `steps` iterations) finds per point, batched. `eps` only
    sets the radius of FAB's random restarts (none by default)."""
    attack = FAB(eps=eps, norm=norm, steps=steps, targets=targets)
    x = np.asarray(x, "float32")
    y = np.asarray(y)
    batches = range(0, len(x), batch_size)
    bar = progress_bar(len(batches), unit_name="batch") if progress else None
    found = []
    for index, start in enumerate(batches):
        found.append(attack.minimal(model, x[start:start + batch_size], y[start:start + batch_size],
                                    seed=np.array([seed, index], "int32")))
        if bar is not None:
            bar.update(index + 1, finalize=index + 1 == len(batches))
    norms = np.concatenate(found) if found else np.zeros(0, "float32")
    label = attack.describe().replace(f" {norm} eps={eps:g}", "")
    return MinimalPerturbations(attack=label, norm=norm, norms=norms)


def format_curve(results: dict[str, MinimalPerturbations], radii: Sequence[float]) -> str:
    """Markdown: robust accuracy (%) at each eps, one column per model, then the median smallest perturbation."""
    titles = list(results)
    rows = [[f"{eps:g}"] + [f"{100 * results[t].robust_accuracy(eps):.2f}" for t in titles] for eps in radii]
    rows.append(["median smallest perturbation"] + [f"{results[t].summary()['median']:.4g}" for t in titles])
    return markdown(["eps"] + titles, rows)


def plot_curve(results: Mapping[str, MinimalPerturbations], path: str, marks: Sequence[float] = ()) -> None:
    """Writes a PNG: per model, the share of points whose smallest perturbation found exceeds eps, as a step curve
    from eps = 0 (clean accuracy) to past the largest finite perturbation, with the radii `marks` as dotted lines."""
    finite = [v for found in results.values() for v in found.norms if np.isfinite(v)]
    largest = max(finite + [max(marks, default=0.0)]) or 1.0
    first = next(iter(results.values()), None)
    with png_figure(path, figsize=(7, 4.5)) as (figure, axes):
        for index, (title, found) in enumerate(results.items()):
            steps = np.unique(np.concatenate([[0.0], found.norms[np.isfinite(found.norms)], [1.05 * largest]]))
            accuracy = [100 * found.robust_accuracy(eps) for eps in steps]
            axes.step(steps, accuracy, where="post", color=f"C{index % 10}", label=title)
        for eps in marks:
            axes.axvline(eps, color="grey", linestyle=":", linewidth=1)
        axes.set_xlabel(f"{first.norm if first else ''} eps")
        axes.set_ylabel("robust accuracy (%), an upper bound")
        axes.set_ylim(0, 100)
        axes.set_xlim(0, 1.05 * largest)
        axes.set_title(f"Smallest perturbations found by {first.attack if first else 'FAB-T'}")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
