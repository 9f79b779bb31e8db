"""Attack suites: a point counts as robust only if every attack in the suite fails on it.

Reference: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", sec. 5 (AutoAttack: APGD-CE, APGD-T, FAB-T, Square; each attack runs only on the points
that all earlier ones failed on). kerobust's `autoattack` suite is APGD-CE, APGD-T (9 targets) and Square; FAB-T is
not implemented, so it can be slightly weaker than the reference AutoAttack.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from kerobust.attacks.apgd import APGD
from kerobust.attacks.attack import Attack
from kerobust.attacks.predictions import predict
from kerobust.attacks.square import Square
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import Array, ArrayLike, Seed


@dataclasses.dataclass(frozen=True)
class AttackSuite:
    """An ensemble of attacks sharing one threat model (norm and eps), run in order on the points still robust."""

    name: str
    members: tuple[Attack, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise KerobustError(f"attack suite {self.name!r} has no attacks.")
        threat = {(a.norm, float(a.eps)) for a in self.members}
        if len(threat) > 1:
            raise KerobustError(f"the attacks of suite {self.name!r} must share one norm and eps, "
                                f"got {sorted(threat)}.")

    @property
    def norm(self) -> str:
        return self.members[0].norm

    @property
    def eps(self) -> float:
        return self.members[0].eps

    @property
    def steps(self) -> int:
        return sum(a.steps * max(getattr(a, "targets", 0), 1) for a in self.members)

    @property
    def alpha(self) -> None:
        return None

    def describe(self) -> str:
        return f"{self.name} ({', '.join(a.describe().split()[0] for a in self.members)}) {self.norm} eps={self.eps:g}"

    def __call__(self, model: keras.Model, x: ArrayLike, y: ArrayLike, seed: Seed = 0) -> Array:
        """Per point, the first member's adversarial example that changes the decision (else the last member's);
        points the model already misclassifies are returned unchanged."""
        x = np.asarray(x, dtype="float32")
        y = np.asarray(y)
        x_adv, robust = x.copy(), predict(model, x).argmax(axis=-1) == y  # misclassified points need no attack
        for attack in self.members:
            if not robust.any():
                break
            candidate = attack_rows(attack, model, x, y, robust, seed)
            fooled = predict(model, candidate).argmax(axis=-1) != y
            x_adv[robust] = candidate[robust]
            robust &= ~fooled
        return x_adv


def attack_rows(attack: Attack, model: keras.Model, x: Array, y: ArrayLike, rows: Array, seed: Seed) -> Array:
    """`attack` run on the rows of the batch selected by the boolean mask `rows` (the other rows are returned
    unchanged). The selection is padded to a power of two (by repeating a row), so compiled attacks see few shapes."""
    index = np.flatnonzero(rows)
    x_adv = np.array(x, dtype="float32", copy=True)
    if len(index) == 0:
        return x_adv
    size = min(1 << int(len(index) - 1).bit_length(), len(x))
    padded = np.concatenate([index, np.full(size - len(index), index[0])])
    result = np.asarray(attack(model, x[padded], np.asarray(y)[padded], seed=seed))
    x_adv[index] = result[: len(index)]
    return x_adv


def autoattack(eps: float, norm: str = "linf", square_queries: int = 5000, eot_samples: int = 1,
               targets: int = 9) -> AttackSuite:
    """The `autoattack` suite: APGD-CE, APGD-T (`targets` classes), Square (`square_queries`; 0 leaves it out).

    For randomised models pass `eot_samples` (the reference's "rand" version uses EOT-20 and drops Square and FAB).
    """
    members: list[Attack] = [
        APGD(eps=eps, norm=norm, eot_samples=eot_samples),
        APGD(eps=eps, norm=norm, targets=targets, eot_samples=eot_samples),
    ]
    if square_queries:
        members.append(Square(eps=eps, norm=norm, queries=square_queries))
    return AttackSuite(name="autoattack", members=tuple(members))


SUITES = {"autoattack": autoattack}


def build_suite(name: str, eps: float, norm: str = "linf", **options: Any) -> AttackSuite:
    """A suite by name (see `SUITES`)."""
    if name not in SUITES:
        raise unknown_name("attack suite", name, SUITES)
    return SUITES[name](eps, norm=norm, **options)
