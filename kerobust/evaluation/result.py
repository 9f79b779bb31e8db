"""Results of a robustness evaluation and their JSON form (the `metrics.json` schema)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


def same_radius(a: float, b: float) -> bool:
    """Whether two radii are the same up to float rounding."""
    return abs(a - b) <= 1e-12 * max(1.0, b)


@dataclasses.dataclass
class AttackAccuracy:
    """Accuracy of a model on one attack's adversarial examples (fractions in [0, 1]).

    For the members of a suite, `suite` names it and the accuracy is cumulative: points robust to this attack and to
    every earlier member.
    """

    name: str
    norm: str
    eps: float
    steps: int
    step_size: float | None
    top1: float
    top5: float
    description: str = ""
    suite: str | None = None


@dataclasses.dataclass
class RobustnessResult:
    """Clean and per-attack accuracy of one model on `num_points` test points.

    `worst_case` holds, per threat model (norm, eps), the accuracy on points that every attack run at it failed on
    (with the gradient-masking probe's attacks on the points it ran on, once `kerobust.evaluation.masking.diagnose`
    has run); `warnings` the gradient-masking diagnostics; `notes` what the evaluation changed and why (a randomised
    model attacked with the rand version of AutoAttack). `robust_points` (not in JSON) maps (norm, eps) to the
    per-point worst case, a boolean array [top-1, top-5] x points.
    """

    num_points: int
    clean_top1: float
    clean_top5: float
    attacks: list
    worst_case: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    robust_points: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def reported_attacks(self) -> list[AttackAccuracy]:
        """The attacks a one-line summary reports: each attack run on its own and each suite's total, not the suites'
        members."""
        return [a for a in self.attacks if a.suite is None or a.suite == a.name]

    def accuracy_at(self, norm: str, eps: float) -> dict | None:
        """The worst-case entry for a threat model, or None."""
        for entry in self.worst_case:
            if entry["norm"] == norm and same_radius(entry["eps"], eps):
                return entry
        return None

    def include_probe(self, probe: RobustnessResult) -> None:
        """Adds to this result's worst case, at each threat model both share, the per-point worst case of `probe`: an
        evaluation of the first `probe.num_points` of the same points (the gradient-masking probe). A point counts as
        robust only if it withstood this result's attacks and, where the probe ran on it, the probe's."""
        for key, found in probe.robust_points.items():
            entry, mine, theirs = self.accuracy_at(*key), self.robust_points.get(key), probe.accuracy_at(*key)
            if entry is None or mine is None or theirs is None:
                continue
            robust = mine.copy()
            robust[:, :probe.num_points] &= found
            self.robust_points[key] = robust
            entry.update(top1=float(robust[0].mean()), top5=float(robust[1].mean()), probe_points=probe.num_points,
                         probe_attacks=theirs["attacks"])

    def headline(self, norm: str, eps: float) -> str:
        """The robust accuracy that a summary leads with: per point, the worst case over every attack run at
        (norm, eps), the masking probe's included, and what it was taken over. E.g. `robust 61.11 % at linf eps=0.2
        (worst case per point over FGSM, PGD-20, autoattack and the masking probe's FGSM, PGD-10, PGD-50, Square-300 on
        its 360 points)`."""
        entry = self.accuracy_at(norm, eps)
        if entry is None:
            return f"no attack ran at {norm} eps={eps:g}"
        own = [a.description.split()[0] if a.description else a.name for a in self.reported_attacks()
               if a.norm == norm and same_radius(a.eps, eps)]
        over = ", ".join(own)
        if entry.get("probe_points"):
            probe = ", ".join(a.split()[0] for a in entry["probe_attacks"])
            over += f" and the masking probe's {probe} on its {entry['probe_points']} points"
        return f"robust {100 * entry['top1']:.2f} % at {norm} eps={eps:g} (worst case per point over {over})"

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> RobustnessResult:
        """The result that `to_json` wrote (extra keys, such as the rest of `metrics.json`, are ignored)."""
        return cls(num_points=payload["num_points"], clean_top1=payload["clean"]["top1"],
                   clean_top5=payload["clean"]["top5"], attacks=[AttackAccuracy(**a) for a in payload["attacks"]],
                   worst_case=payload.get("worst_case", []), warnings=payload.get("masking_warnings", []),
                   notes=payload.get("notes", []))

    def to_json(self) -> dict[str, Any]:
        """`{"num_points", "clean": {"top1", "top5"}, "attacks": [{"name", "norm", "eps", "steps", "step_size",
        "top1", "top5", "description", "suite"}], "worst_case": [{"norm", "eps", "top1", "top5", "attacks"}] (with
        "probe_points" and "probe_attacks" where the masking probe's attacks count),
        "masking_warnings": [{"check", "message"}], "notes": [str]}`."""
        return {
            "num_points": self.num_points,
            "clean": {"top1": self.clean_top1, "top5": self.clean_top5},
            "attacks": [dataclasses.asdict(a) for a in self.attacks],
            "worst_case": self.worst_case,
            "masking_warnings": self.warnings,
            "notes": self.notes,
        }
