"""Attack suites: a point counts as robust only if every attack in the suite fails on it.

Reference: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", sec. 5 (AutoAttack: APGD-CE, APGD-T, FAB-T, Square; each attack runs only on the points
that all earlier ones failed on). kerobust's `autoattack`, `autoattack-plus` and `autoattack-rand` are the versions
the authors' code defines as "standard", "plus" and "rand", with its iteration counts, restarts and target counts.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import keras
import numpy as np

from kerobust.attacks.apgd import APGD
from kerobust.attacks.attack import Attack
from kerobust.attacks.fab import FAB
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
        return sum(a.steps * max(getattr(a, "targets", 0), 1) * getattr(a, "restarts", 1) for a in self.members)

    @property
    def alpha(self) -> None:
        return None

    def describe(self) -> str:
        """`autoattack (APGD-CE-100, APGD-T-100 x9 targets, FAB-T-100 x9 targets, Square-5000) linf eps=0.1`."""
        threat = f" {self.norm} eps={self.eps:g}"
        members = ", ".join(a.describe().replace(threat, "") for a in self.members)
        return f"{self.name} ({members}){threat}"

    def __call__(self, model: keras.Model, x: ArrayLike, y: ArrayLike, seed: Seed = 0,
                 member_seconds: dict[str, float] | None = None) -> Array:
        """Per point, the first member's adversarial example that changes the decision (else the last member's);
        points the model already misclassifies are returned unchanged. `member_seconds`, if given, receives each
        member's seconds under its name (a benchmark's breakdown)."""
        x = np.asarray(x, dtype="float32")
        y = np.asarray(y)
        x_adv, robust = x.copy(), predict(model, x).argmax(axis=-1) == y  # misclassified points need no attack
        for attack in self.members:
            started = time.perf_counter()
            if robust.any():
                candidate = attack_rows(attack, model, x, y, robust, seed)
                fooled = predict(model, candidate).argmax(axis=-1) != y
                x_adv[robust] = candidate[robust]
                robust &= ~fooled
            if member_seconds is not None:
                member_seconds[attack.name] = round(time.perf_counter() - started, 1)
        return x_adv


PADDING_STEP = 32


def padded_size(rows: int) -> int:
    """The batch size `rows` selected rows are padded to: the next power of two up to `PADDING_STEP`, else the next
    multiple of it (273 rows: 288, where the next power of two, 512, would nearly double the work)."""
    if rows <= PADDING_STEP:
        return 1 << int(rows - 1).bit_length()
    return -(-rows // PADDING_STEP) * PADDING_STEP


def attack_rows(attack: Attack, model: keras.Model, x: Array, y: ArrayLike, rows: Array, seed: Seed) -> Array:
    """`attack` run on the rows of the batch selected by the boolean mask `rows` (the other rows are returned
    unchanged). The selection is padded (by repeating a row) to a power of two up to `PADDING_STEP` rows and to a
    multiple of it above, so compiled attacks see few shapes and at most `PADDING_STEP - 1` wasted rows."""
    index = np.flatnonzero(rows)
    x_adv = np.array(x, dtype="float32", copy=True)
    if len(index) == 0:
        return x_adv
    size = min(padded_size(len(index)), len(x))
    padded = np.concatenate([index, np.full(size - len(index), index[0])])
    result = np.asarray(attack(model, x[padded], np.asarray(y)[padded], seed=seed))
    x_adv[index] = result[: len(index)]
    return x_adv


def autoattack(eps: float, norm: str = "linf", square_queries: int = 5000, targets: int = 9,
               eot_samples: int = 1) -> AttackSuite:
    """AutoAttack's standard version (Croce & Hein 2020, sec. 5; the authors' `version="standard"`): APGD-CE,
    APGD-T (`targets` classes), FAB-T (`targets` classes) and Square (`square_queries`; 0 leaves it out), 100
    iterations each and one restart, each run on the points the earlier ones left robust.

    `eot_samples > 1` (a randomised model) gives the "rand" version instead (`autoattack_rand`): FAB and Square have no
    expectation over transformation.
    """
    if eot_samples > 1:
        return autoattack_rand(eps, norm, eot_samples=eot_samples)
    members: list[Attack] = [
        APGD(eps=eps, norm=norm),
        APGD(eps=eps, norm=norm, targets=targets),
        FAB(eps=eps, norm=norm, targets=targets),
    ]
    if square_queries:
        members.append(Square(eps=eps, norm=norm, queries=square_queries))
    return AttackSuite(name="autoattack", members=tuple(members))


def autoattack_plus(eps: float, norm: str = "linf", square_queries: int = 5000, targets: int = 9,
                    eot_samples: int = 1) -> AttackSuite:
    """AutoAttack's "plus" version (the authors' `version="plus"`): APGD-CE and APGD-DLR with 5 random restarts, FAB
    (untargeted) with 5 restarts, Square (`square_queries`), APGD-T and FAB-T (`targets` classes)."""
    if eot_samples > 1:
        raise KerobustError("autoattack-plus has no expectation over transformation (FAB and Square do not average "
                            "over noise); attack a randomised model with autoattack-rand.")
    members: list[Attack] = [
        APGD(eps=eps, norm=norm, restarts=5),
        APGD(eps=eps, norm=norm, loss="dlr", restarts=5),
        FAB(eps=eps, norm=norm, restarts=5),
    ]
    if square_queries:
        members.append(Square(eps=eps, norm=norm, queries=square_queries))
    members += [APGD(eps=eps, norm=norm, targets=targets), FAB(eps=eps, norm=norm, targets=targets)]
    return AttackSuite(name="autoattack-plus", members=tuple(members))


RAND_EOT_SAMPLES = 20


def autoattack_rand(eps: float, norm: str = "linf", square_queries: int = 0, targets: int = 0,
                    eot_samples: int = 1) -> AttackSuite:
    """AutoAttack's "rand" version for randomised models (the authors' `version="rand"`): APGD-CE and APGD-DLR, each
    averaging every gradient over 20 noise draws (EOT-20), or over `eot_samples` draws where more than one is asked.
    `square_queries` and `targets` are accepted and unused (the version has neither)."""
    samples = eot_samples if eot_samples > 1 else RAND_EOT_SAMPLES
    members = (APGD(eps=eps, norm=norm, eot_samples=samples), APGD(eps=eps, norm=norm, loss="dlr", eot_samples=samples))
    return AttackSuite(name="autoattack-rand", members=members)


SUITES = {"autoattack": autoattack, "autoattack-plus": autoattack_plus, "autoattack-rand": autoattack_rand}


def for_randomised_models(attacks: Sequence[Attack | AttackSuite]) -> list[Attack | AttackSuite]:
    """`attacks` with each standard or plus AutoAttack replaced by the rand version at its threat model (for a model
    whose outputs change from call to call)."""
    return [autoattack_rand(a.eps, a.norm) if isinstance(a, AttackSuite) and a.name in ("autoattack", "autoattack-plus")
            else a for a in attacks]


def build_suite(name: str, eps: float, norm: str = "linf", **options: Any) -> AttackSuite:
    """A suite by name (see `SUITES`)."""
    if name not in SUITES:
        raise unknown_name("attack suite", name, SUITES)
    return SUITES[name](eps, norm=norm, **options)
