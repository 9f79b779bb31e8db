"""The attacks a dataset is reported with by default: FGSM and PGD at its threat model (the protocol of
O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks")."""

from __future__ import annotations

from typing import Iterable

from kerobust.attacks import FGSM, PGD, Attack
from kerobust.data.threat_model import ThreatModel
from kerobust.errors import KerobustError



DEFAULT_STEPS = (20,)  # PGD step counts when a bare radius is given


def standard_attacks(threat_model: ThreatModel | float, eps: float | None = None,
                     steps: Iterable[int] | None = None, step_size: float | None = None,
                     norm: str = "linf") -> list[Attack]:
    """FGSM at eps and PGD (random start) at eps for each of the threat model's evaluation step counts.

    Args:
        threat_model: a `kerobust.data.ThreatModel` (a dataset's `threat_model`), or just the radius as a number:
            then PGD runs `DEFAULT_STEPS` (20) steps of the attack's own size, 2.5 eps / steps (Madry et al. 2018).
        eps: radius (default: the threat model's l-inf eps, or its `l2_eps` for norm "l2").
        steps: PGD step counts (default: the threat model's `eval_steps`).
        step_size: PGD step size (default: `threat_model.evaluation_step(eps, norm)`).
        norm: "linf" or "l2".

    Example: `standard_attacks(0.1)` is `[FGSM(0.1), PGD(0.1, steps=20)]` in l-inf.
    """
    if isinstance(threat_model, (int, float)) and not isinstance(threat_model, bool):
        if eps is not None and eps != threat_model:
            raise KerobustError(f"standard_attacks got two radii, {threat_model:g} and eps={eps:g}: pass one.")
        eps, steps = float(threat_model), DEFAULT_STEPS if steps is None else steps
    elif isinstance(threat_model, ThreatModel):
        if eps is None:
            eps = threat_model.radius(norm)
        if step_size is None:
            step_size = threat_model.evaluation_step(eps, norm)
        steps = threat_model.eval_steps if steps is None else steps
    else:
        raise KerobustError("standard_attacks needs a radius (a number) or a dataset's threat model "
                            f"(kerobust.data.ThreatModel), got {type(threat_model).__name__}.")
    attacks: list[Attack] = [FGSM(eps=eps, norm=norm)]
    attacks += [PGD(eps=eps, norm=norm, steps=s, step_size=step_size) for s in tuple(steps)]
    return attacks
