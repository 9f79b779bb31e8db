"""The attacks a dataset is reported with by default: FGSM and PGD at its threat model (the protocol of
O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from kerobust.attacks import FGSM, PGD, Attack

if TYPE_CHECKING:
    from kerobust.data.threat_model import ThreatModel


def standard_attacks(threat_model: ThreatModel, eps: float | None = None, steps: Iterable[int] | None = None,
                     step_size: float | None = None, norm: str = "linf") -> list[Attack]:
    """FGSM at eps and PGD (random start) at eps for each of the threat model's evaluation step counts.

    Args:
        threat_model: a `kerobust.data.ThreatModel`.
        eps: radius (default: the threat model's l-inf eps, or its `l2_eps` for norm "l2").
        steps: PGD step counts (default: the threat model's `eval_steps`).
        step_size: PGD step size (default: `threat_model.evaluation_step(eps, norm)`).
        norm: "linf" or "l2".
    """
    if eps is None:
        eps = threat_model.radius(norm)
    steps = tuple(threat_model.eval_steps if steps is None else steps)
    if step_size is None:
        step_size = threat_model.evaluation_step(eps, norm)
    attacks: list[Attack] = [FGSM(eps=eps, norm=norm)]
    attacks += [PGD(eps=eps, norm=norm, steps=s, step_size=step_size) for s in steps]
    return attacks
