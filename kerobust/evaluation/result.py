"""Results of a robustness evaluation and their JSON form (the `metrics.json` schema)."""

import dataclasses


@dataclasses.dataclass
class AttackAccuracy:
    """Accuracy of a model on one attack's adversarial examples (fractions in [0, 1])."""

    name: str
    norm: str
    eps: float
    steps: int
    step_size: float | None
    top1: float
    top5: float


@dataclasses.dataclass
class RobustnessResult:
    """Clean and per-attack accuracy of one model on `num_points` test points."""

    num_points: int
    clean_top1: float
    clean_top5: float
    attacks: list

    def to_json(self):
        """`{"clean": {"top1", "top5"}, "attacks": [{"name", "norm", "eps", "steps", "step_size", "top1", "top5"}],
        "num_points"}`."""
        return {
            "num_points": self.num_points,
            "clean": {"top1": self.clean_top1, "top5": self.clean_top5},
            "attacks": [dataclasses.asdict(a) for a in self.attacks],
        }
