"""A dataset's standard threat model: the perturbation budget it is usually trained and evaluated at."""

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
