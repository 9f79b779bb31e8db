"""Results of a robustness evaluation and their JSON form (the `metrics.json` schema)."""

from __future__ import annotations

import dataclasses
from typing import Any


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

    `worst_case` holds, per threat model (norm, eps), the accuracy on points that every attack run at it failed on;
    `warnings` the gradient-masking diagnostics (`kerobust.evaluation.masking`).
    """

    num_points: int
    clean_top1: float
    clean_top5: float
    attacks: list
    worst_case: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)

    def reported_attacks(self) -> list[AttackAccuracy]:
        """The attacks a one-line summary reports: each attack run on its own and each suite's total, not the suites'
        members."""
        return [a for a in self.attacks if a.suite is None or a.suite == a.name]

    def accuracy_at(self, norm: str, eps: float) -> dict | None:
        """The worst-case entry for a threat model, or None."""
        for entry in self.worst_case:
            if entry["norm"] == norm and abs(entry["eps"] - eps) <= 1e-12 * max(1.0, eps):
                return entry
        return None

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> RobustnessResult:
        """The result that `to_json` wrote (extra keys, such as the rest of `metrics.json`, are ignored)."""
        return cls(num_points=payload["num_points"], clean_top1=payload["clean"]["top1"],
                   clean_top5=payload["clean"]["top5"], attacks=[AttackAccuracy(**a) for a in payload["attacks"]],
                   worst_case=payload.get("worst_case", []), warnings=payload.get("masking_warnings", []))

    def to_json(self) -> dict[str, Any]:
        """`{"num_points", "clean": {"top1", "top5"}, "attacks": [{"name", "norm", "eps", "steps", "step_size",
        "top1", "top5", "description", "suite"}], "worst_case": [{"norm", "eps", "top1", "top5", "attacks"}],
        "masking_warnings": [{"check", "message"}]}`."""
        return {
            "num_points": self.num_points,
            "clean": {"top1": self.clean_top1, "top5": self.clean_top5},
            "attacks": [dataclasses.asdict(a) for a in self.attacks],
            "worst_case": self.worst_case,
            "masking_warnings": self.warnings,
        }
