"""Gradient-masking diagnostics, run with every evaluation and reported as warnings.

A robust accuracy is only as good as the attack behind it. These checks look for the signs of obfuscated gradients
listed by Athalye, Carlini & Wagner 2018 ("Obfuscated Gradients Give a False Sense of Security", sec. 3.1) and
Carlini et al. 2019 ("On Evaluating Adversarial Robustness", sec. 4 and appendix): iterative attacks weaker than
single-step ones, accuracy that rises as eps or steps grow, accuracy far from zero when the ball covers the whole
input box (an accuracy that merely stays flat over a range of eps can be honest, so flatness is judged there), a
black-box attack beating the white-box ones, vanishing input gradients, and randomised outputs. Two more concern
single-step attacks: FGSM accuracy far above the iterative attacks' (the loss is far from linear inside the ball, as
after catastrophic overfitting: Tramer et al. 2018, "Ensemble Adversarial Training", sec. 3; Wong, Rice & Kolter
2020, "Fast is better than free", sec. 5) and an attack that leaves more accuracy than clean inputs (label leaking:
Kurakin, Goodfellow & Bengio 2017, "Adversarial Machine Learning at Scale", sec. 4.3).

Each check compares accuracies on the same points; differences below `TOLERANCE` are not reported.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import numpy as np

from kerobust import backend
from kerobust.attacks import FGSM, PGD, Attack, Square, losses
from kerobust.attacks.predictions import RANDOM_OUTPUT_TOLERANCE, output_change
from kerobust.evaluation.report import variant
from kerobust.evaluation.result import RobustnessResult
from kerobust.evaluation.robust_accuracy import evaluate_robustness
from kerobust.experiment.config import PROBE_POINTS
from kerobust.types import Array, ArrayLike

TOLERANCE = 0.02  # accuracy differences (fractions) smaller than this are noise
LARGE_EPS_ACCURACY = 0.10  # accuracy above this when the ball covers the input box is "far from zero"
ZERO_GRADIENT_SHARE = 0.10  # more points than this with an exactly zero input gradient is "a large share"
# FGSM overestimates robustness when an iterative attack at its radius leaves less than half its accuracy and at
# least this much less (an absolute floor, so that a natural model's 15 % against 0 % is not reported).
SINGLE_STEP_GAP = 0.20
CHECKS = (
    "iterative_weaker_than_single_step", "single_step_overestimates", "attack_raises_accuracy",
    "accuracy_rises_with_eps", "accuracy_rises_with_steps", "large_eps_accuracy", "black_box_beats_white_box",
    "zero_gradients", "random_outputs",
)


def _warning(check: str, message: str) -> dict[str, str]:
    return {"check": check, "message": message}


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def whole_box_eps(norm: str, input_shape: Sequence[int]) -> float:
    """A radius whose ball around any input covers the whole [0, 1] box: 1 in l-inf, sqrt(d) in l2."""
    return 1.0 if norm == "linf" else float(np.sqrt(np.prod(input_shape)))


@dataclasses.dataclass(frozen=True)
class ProbeAttacks:
    """The attacks of the diagnostic probe at one threat model (norm, eps)."""

    norm: str
    eps: float
    input_shape: tuple
    square_queries: int = 300

    def attacks(self) -> dict[str, Attack]:
        found: dict[str, Attack] = {
            "fgsm": FGSM(eps=self.eps, norm=self.norm),
            "pgd10": PGD(eps=self.eps, norm=self.norm, steps=10),
            "pgd50": PGD(eps=self.eps, norm=self.norm, steps=50),
            "pgd10_double_eps": PGD(eps=2 * self.eps, norm=self.norm, steps=10),
            "pgd20_whole_box": PGD(eps=whole_box_eps(self.norm, self.input_shape), norm=self.norm, steps=20),
        }
        if self.square_queries:
            found["square"] = Square(eps=self.eps, norm=self.norm, queries=self.square_queries)
        return found


def zero_gradient_share(model: keras.Model, x: ArrayLike, y: ArrayLike) -> float:
    """Share of points whose input gradient of the margin loss is exactly zero (a locally flat network)."""
    loss_fn = losses.margin(from_logits=losses.outputs_are_logits(model))
    run = backend.compile_attack(model, lambda oracle, x, y, seed: oracle.gradient(x, y), loss_fn)
    grads = np.asarray(run(np.asarray(x, "float32"), np.asarray(y), np.zeros(2, "int32")))
    flat = np.abs(grads.reshape(len(grads), -1)).max(axis=1)
    return float(np.mean(flat == 0.0))


def probe_warnings(model: keras.Model, x: Array, y: Array, norm: str, eps: float, seed: int = 0,
                   square_queries: int = 300) -> tuple[list[dict[str, str]], dict[str, float], RobustnessResult | None]:
    """Runs the diagnostic probe (FGSM, PGD-10, PGD-50, PGD-10 at 2 eps, PGD-20 over the whole box, Square) on
    `x, y` and returns `(warnings, accuracies, the probe's evaluation)` (no evaluation when eps is 0)."""
    if eps <= 0:
        return [], {}, None
    probe = ProbeAttacks(norm, float(eps), tuple(np.shape(x)[1:]), square_queries).attacks()
    result = evaluate_robustness(model, x, y, list(probe.values()), seed=seed, progress=False)
    acc = {key: entry.top1 for key, entry in zip(probe, result.attacks)}
    acc["clean"] = result.clean_top1
    # FGSM against PGD, PGD-10 against PGD-50 and 2 eps, Square against the gradient attacks: the result checks.
    found = [dict(w, message=f"{w['message'][:-1]} (probe, {len(x)} points).") for w in result_warnings(result)]
    if acc["pgd20_whole_box"] > LARGE_EPS_ACCURACY:
        found.append(_warning("large_eps_accuracy",
                              "PGD-20 with a ball covering the whole input box still leaves "
                              f"{_pct(acc['pgd20_whole_box'])} accuracy; it should be near 0 "
                              f"({norm}, {len(x)} probe points)."))
    share = zero_gradient_share(model, x, y)
    acc["zero_gradient_share"] = share
    if share > ZERO_GRADIENT_SHARE:
        found.append(_warning("zero_gradients",
                              f"{_pct(share)} of the probe points have an exactly zero input gradient."))
    change = output_change(model, x)
    acc["output_change"] = change
    if change > RANDOM_OUTPUT_TOLERANCE:
        found.append(_warning("random_outputs",
                              f"two identical calls differ by up to {change:.3g}: a randomised model; attack it with "
                              f"expectation over transformation (--eot N) and report several evaluations."))
    return found, acc, result


def result_warnings(result: RobustnessResult) -> list[dict[str, str]]:
    """Checks on the attacks of an evaluation: iterative weaker than FGSM, FGSM far weaker than the iterative attacks,
    an attack raising accuracy above clean, accuracy rising with eps or steps, Square beating the white-box attacks
    (standalone, or adding points after them in a suite)."""
    found = []
    single = [a for a in result.attacks if a.suite is None]
    for fgsm in (a for a in single if a.name == "FGSM"):
        for other in single:
            iterative = other.steps > 1 and other.name != "Square"
            if not iterative or (other.norm, other.eps) != (fgsm.norm, fgsm.eps):
                continue
            if other.top1 > fgsm.top1 + TOLERANCE:
                found.append(_warning("iterative_weaker_than_single_step",
                                      f"{other.description} leaves {_pct(other.top1)} accuracy, "
                                      f"FGSM {_pct(fgsm.top1)}."))
            if other.top1 < fgsm.top1 / 2 and fgsm.top1 - other.top1 > SINGLE_STEP_GAP:
                found.append(_warning("single_step_overestimates",
                                      f"FGSM leaves {_pct(fgsm.top1)} accuracy, {other.description} "
                                      f"{_pct(other.top1)}: single-step gradients mislead inside the ball (as after "
                                      "catastrophic overfitting); judge robustness by iterative attacks, not FGSM."))
    for attack in single:
        if attack.top1 > result.clean_top1 + TOLERANCE:
            found.append(_warning("attack_raises_accuracy",
                                  f"{attack.description} leaves {_pct(attack.top1)} accuracy, above the clean "
                                  f"{_pct(result.clean_top1)}: its perturbations help the model (label leaking)."))
    for attack in single:
        for other in single:
            if (other.name, other.norm, variant(other)) != (attack.name, attack.norm, variant(attack)):
                continue
            if other.steps == attack.steps and other.eps > attack.eps and other.top1 > attack.top1 + TOLERANCE:
                found.append(_warning("accuracy_rises_with_eps",
                                      f"{other.description} leaves {_pct(other.top1)} accuracy, at eps={attack.eps:g} "
                                      f"{_pct(attack.top1)}."))
            if other.eps == attack.eps and other.steps > attack.steps and other.top1 > attack.top1 + TOLERANCE:
                found.append(_warning("accuracy_rises_with_steps",
                                      f"{other.description} leaves {_pct(other.top1)} accuracy, "
                                      f"with {attack.steps} steps {_pct(attack.top1)}."))
    for square in (a for a in single if a.name == "Square"):
        white = [a.top1 for a in single if (a.norm, a.eps) == (square.norm, square.eps) and a.name != "Square"]
        if white and square.top1 < min(white) - TOLERANCE:
            found.append(_warning("black_box_beats_white_box",
                                  f"{square.description} leaves {_pct(square.top1)} accuracy, the best gradient attack "
                                  f"{_pct(min(white))}."))
    for i, attack in enumerate(result.attacks):
        if attack.suite and attack.name == "Square" and i > 0 and result.attacks[i - 1].top1 > attack.top1 + TOLERANCE:
            found.append(_warning("black_box_beats_white_box",
                                  f"in {attack.suite}, Square lowers accuracy from "
                                  f"{_pct(result.attacks[i - 1].top1)} to {_pct(attack.top1)} after the gradient "
                                  f"attacks ({attack.norm} eps={attack.eps:g})."))
    return found


def diagnose(model: keras.Model, x: Array, y: Array, result: RobustnessResult, norm: str, eps: float,
             points: int = PROBE_POINTS, seed: int = 0, square_queries: int = 300) -> list[dict[str, str]]:
    """All masking warnings for an evaluation `result` of `model` at the threat model (norm, eps): the checks on
    the result's attacks plus the probe on the first `points` points (0 skips the probe). Stores them in
    `result.warnings` and returns them. The probe's attacks inside the threat model (FGSM, PGD-10, PGD-50, Square)
    join the result's per-point worst case on the points they ran on (`RobustnessResult.include_probe`)."""
    found = result_warnings(result)
    if points:
        probe, _, evaluation = probe_warnings(model, x[:points], y[:points], norm, eps, seed=seed,
                                              square_queries=square_queries)
        found += probe
        if evaluation is not None:
            result.include_probe(evaluation)
    result.warnings = found
    return found
