"""Restarts: several runs of an attack, keeping per point the first run that succeeds.

Random restarts (Madry et al. 2018, sec. 3) rerun an attack from new random starts; targeted restarts run it once
per likely target class (Gowal et al. 2019, "An Alternative Surrogate Loss for PGD-based Adversarial Testing",
MultiTargeted; Croce & Hein 2020, sec. 4, APGD-T over the top-9 classes).
"""

from __future__ import annotations

from typing import Callable, Iterable

from keras import ops

from kerobust.attacks.lp_geometry import per_sample
from kerobust.backend.oracle import Oracle
from kerobust.types import Tensor


def first_success(oracle: Oracle, x: Tensor, labels: Tensor, candidates: Iterable[Tensor],
                  targeted: bool = False) -> Tensor:
    """Per point, the first of the `candidates` (adversarial batches, built lazily in order) that succeeds: changes
    the decision away from `labels`, or with `targeted` reaches them. Points where none succeeds keep the first."""
    labels = ops.cast(labels, "int32")
    best, found = None, None
    for x_candidate in candidates:
        predicted = ops.cast(ops.argmax(oracle.logits(x_candidate), axis=-1), "int32")
        success = predicted == labels if targeted else predicted != labels
        if best is None:
            best, found = x_candidate, success
            continue
        best = ops.where(per_sample(ops.logical_and(success, ops.logical_not(found)), x), x_candidate, best)
        found = ops.logical_or(found, success)
    return best


def likely_targets(oracle: Oracle, x: Tensor, y: Tensor, targets: int) -> list[Tensor]:
    """Label pairs `[y, t]` (shape [batch, 2]) for each of the `targets` classes with the highest clean logits other
    than the label (at most classes - 1 of them)."""
    y = ops.cast(y, "int32")
    clean = ops.cast(oracle.logits(x), "float32")
    classes = clean.shape[-1]
    ranked = ops.argsort(-(clean - 1e9 * ops.one_hot(y, classes)), axis=-1)
    return [ops.stack([y, ops.cast(ranked[:, rank], "int32")], axis=1)
            for rank in range(min(int(targets), classes - 1))]


def restarted(oracle: Oracle, x: Tensor, y: Tensor, run: Callable[[Tensor, int], Tensor], restarts: int = 1,
              targets: int = 0, targeted: bool = False) -> Tensor:
    """Runs `run(labels, seed_offset)` `restarts` times, against each likely target when `targets > 0` (then
    `labels` are `[y, t]` pairs), and keeps per point the first run that succeeds."""
    if targets:
        label_sets = likely_targets(oracle, x, y, targets)
    else:
        label_sets = [y]
    candidates = (
        run(labels, rank * restarts + restart) for rank, labels in enumerate(label_sets) for restart in range(restarts)
    )
    return first_success(oracle, x, y, candidates, targeted=targeted)
