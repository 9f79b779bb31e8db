"""A dataset's standard threat model: the perturbation budget it is usually trained and evaluated at."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ThreatModel:
    """Perturbation budget and attack settings in pixel units of [0, 1] inputs.

    Args:
        eps: l-inf radius used for training and evaluation.
        train_steps: PGD steps used by adversarial training.
        train_step_size: PGD step size used by adversarial training.
        eval_steps: PGD step counts reported at evaluation (each is one attack).
        eval_step_size: PGD step size at evaluation.
        l2_eps: the l2 radius this dataset is evaluated at when an l2 threat model is asked for.
    """

    eps: float
    train_steps: int
    train_step_size: float
    eval_steps: tuple
    eval_step_size: float
    l2_eps: float

    def radius(self, norm: str) -> float:
        """The dataset's radius for threat norm `norm` ("linf" or "l2")."""
        return self.l2_eps if norm == "l2" else self.eps

    def training_step(self, eps: float, norm: str, steps: int) -> float | None:
        """PGD step size for training at `eps`: the dataset's l-inf step scaled in proportion to `eps`, or, in l2 (and
        for a zero reference radius), 2.5 eps / steps (Madry et al.'s rule of thumb)."""
        step = scaled_step(self.train_step_size, eps, self.eps) if norm == "linf" else None
        if step is None and eps:
            step = 2.5 * eps / steps
        return step

    def evaluation_step(self, eps: float, norm: str) -> float | None:
        """PGD step size for evaluation at `eps`: the dataset's l-inf step scaled in proportion to `eps`; `None` (the
        attack's own 2.5 eps / steps) in l2."""
        return scaled_step(self.eval_step_size, eps, self.eps) if norm == "linf" else None


def scaled_step(step: float, eps: float, reference_eps: float) -> float | None:
    """`step` scaled in proportion when `eps` differs from `reference_eps` (None when either radius is 0)."""
    if eps == reference_eps:
        return step
    return step * eps / reference_eps if reference_eps and eps else None
