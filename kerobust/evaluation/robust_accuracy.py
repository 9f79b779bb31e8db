"""Clean and adversarial accuracy (top-1 and top-5) of a classifier, batched, with a progress bar."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from kerobust.attacks.predictions import is_randomised, predict
from kerobust.attacks.attack import Attack
from kerobust.attacks.suite import AttackSuite, attack_rows, for_randomised_models
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult
from kerobust.evaluation.top_k import top_k_correct
from kerobust.progress import progress_bar
from kerobust.types import ArrayLike


def _correct(model, x, y):
    outputs = predict(model, x)
    return top_k_correct(outputs, y, 1), top_k_correct(outputs, y, 5)


def _rows_of(entry):
    """The table rows an attack or suite yields: `(attack, suite name or None)`; a suite adds its own total row."""
    if isinstance(entry, AttackSuite):
        return [(member, entry.name) for member in entry.members] + [(entry, entry.name)]
    return [(entry, None)]


def evaluate_robustness(model: keras.Model, x: ArrayLike, y: ArrayLike, attacks: Sequence[Attack | AttackSuite],
                        batch_size: int = 256, seed: int = 0, progress: bool = True) -> RobustnessResult:
    """Evaluates `model` on clean inputs and on every attack's adversarial examples.

    Args:
        model: a Keras classifier on [0, 1] inputs (logits or probabilities).
        x, y: test images and integer labels.
        attacks: `kerobust.attacks.Attack` and `AttackSuite` instances (run in inference mode). A suite runs its
            members in order, each on the points no earlier one misclassified (top-1), as AutoAttack does; a point's
            top-5 correctness is that of the example that first changed its decision (or of the last member's).
        batch_size: points per batch.
        seed: attack seed; batch `b` uses the seed pair `(seed, b)`, so results are reproducible.
        progress: show a progress bar.

    Returns:
        A `RobustnessResult` with fractions in [0, 1], including the per-point worst case at each threat model.
        A randomised model (two identical calls differ) is attacked with the "rand" version of AutoAttack wherever
        the standard or plus version was asked, and the result's `notes` say so.
    """
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    n = len(x)
    notes = []
    standard = [a for a in attacks if isinstance(a, AttackSuite) and a.name in ("autoattack", "autoattack-plus")]
    if standard and n and is_randomised(model, x[:64]):
        attacks = for_randomised_models(attacks)
        notes.append(f"the model is randomised (two identical calls differ), so {standard[0].name} ran as AutoAttack's "
                     f"rand version: {next(a for a in attacks if a.name == 'autoattack-rand').describe()}.")
    rows = [row for entry in attacks for row in _rows_of(entry)]
    batches = range(0, n, batch_size)
    shown = [i for i, (a, suite) in enumerate(rows) if suite is None or isinstance(a, AttackSuite)]
    labels = ["clean"] + [f"{rows[i][0].describe().split()[0]}@{rows[i][0].eps:g}" for i in shown]
    bar = progress_bar(len(batches), unit_name="batch", stateful_metrics=labels) if progress else None
    clean = np.zeros((2, n), dtype=bool)
    adversarial = np.zeros((len(rows), 2, n), dtype=bool)
    for index, start in enumerate(batches):
        part = slice(start, start + batch_size)
        xb, yb = x[part], y[part]
        seed_pair = np.array([seed, index], dtype="int32")
        clean[:, part] = _correct(model, xb, yb)
        r = 0
        for entry in attacks:
            if isinstance(entry, AttackSuite):
                still = clean[:, part].copy()
                for member in entry.members:
                    x_adv = attack_rows(member, model, xb, yb, still[0], seed_pair)
                    still &= np.stack(_correct(model, x_adv, yb))
                    adversarial[r, :, part] = still
                    r += 1
                adversarial[r, :, part] = still
            else:
                x_adv = np.asarray(entry(model, xb, yb, seed=seed_pair))
                adversarial[r, :, part] = _correct(model, x_adv, yb)
            r += 1
        if bar is not None:
            done = start + len(xb)
            accuracies = [clean[0, :done].mean()] + [adversarial[i, 0, :done].mean() for i in shown]
            bar.update(index + 1, values=list(zip(labels, accuracies)), finalize=index + 1 == len(batches))
    results = [
        AttackAccuracy(
            name=attack.name, norm=attack.norm, eps=float(attack.eps), steps=attack.steps,
            step_size=None if attack.alpha is None else float(attack.alpha), top1=float(adversarial[i, 0].mean()),
            top5=float(adversarial[i, 1].mean()), description=attack.describe(), suite=suite,
        )
        for i, (attack, suite) in enumerate(rows)
    ]
    worst, robust_points = [], {}
    for norm, eps in dict.fromkeys((a.norm, float(a.eps)) for a, _ in rows):
        members = [i for i, (a, _) in enumerate(rows) if a.norm == norm and float(a.eps) == eps]
        robust = np.logical_and.reduce(adversarial[members], axis=0)
        robust_points[(norm, eps)] = robust
        worst.append({
            "norm": norm, "eps": eps, "top1": float(robust[0].mean()), "top5": float(robust[1].mean()),
            "attacks": [rows[i][0].describe() for i in members if not isinstance(rows[i][0], AttackSuite)],
        })
    return RobustnessResult(
        num_points=n, clean_top1=float(clean[0].mean()), clean_top5=float(clean[1].mean()), attacks=results,
        worst_case=worst, notes=notes, robust_points=robust_points,
    )
