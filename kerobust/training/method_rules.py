"""What each training method requires of its settings, written once and checked without importing a framework: by
`kerobust fit`'s configuration before any work, and by `build_training_method` for library callers."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from kerobust.catalog import CERTIFIED
from kerobust.errors import KerobustError

MIXABLE = ("fgsm", "pgd", "mat-rand", "mat-max")  # methods whose batches can be mixed with natural ones
# The paired methods' weights as their papers set them: TRADES's beta (Zhang et al. 2019), ALP's lambda (Kannan et
# al. 2018, ImageNet), MART's beta (Wang et al. 2020); AWP's gamma (Wu et al. 2020, PGD-AT and TRADES).
TRADES_BETA, ALP_WEIGHT, MART_BETA, AWP_GAMMA = 6.0, 0.5, 6.0, 5e-3
# SABR's box share lambda (Mueller et al. 2023's MNIST setting at eps 0.1) and MTL-IBP's IBP weight alpha (De Palma et
# al. 2024 tune it per setting; 0.5 weighs the two losses equally).
SABR_LAMBDA, MTL_ALPHA = 0.4, 0.5
# The weight lambda of Shi et al.'s (2021) warm-up regularisers in their MNIST and CIFAR-10 runs.
FAST_IBP_LAMBDA = 0.5
INTERVAL_CERTIFIED = ("ibp", "crown-ibp", "sabr", "mtl-ibp")  # certified training on interval bounds
# Methods whose step trains on one adversarial batch: adversarial weight perturbation (Wu et al. 2020) suits them.
WEIGHT_PERTURBABLE = ("fgsm", "pgd", "trades", "alp", "mart", "pni", "mat-rand", "mat-max")


@dataclasses.dataclass(frozen=True)
class Family:
    """Training methods that share options no other method reads."""

    methods: tuple[str, ...]
    phrase: str  # completes "--flag is ..."


FAMILIES = {
    "free": Family(("free",), "implemented for free training only"),
    "certified": Family(CERTIFIED, "for certified training"),
    "trades": Family(("trades",), "TRADES's KL weight"),
    "alp": Family(("alp",), "adversarial logit pairing's weight"),
    "mart": Family(("mart",), "MART's KL weight"),
    "sabr": Family(("sabr",), "SABR's box share"),
    "mtl-ibp": Family(("mtl-ibp",), "MTL-IBP's IBP weight"),
    "ibp-init": Family(INTERVAL_CERTIFIED, "for certified training on interval bounds"),
    "awp": Family(WEIGHT_PERTURBABLE, "for adversarial training on one batch per step"),
}


def check_method_settings(method: str, threat_norm: str = "linf", adversarial_share: float = 1.0,
                          family_options: Iterable[tuple[str, str]] = ()) -> None:
    """Raises a one-line `KerobustError` when the settings do not suit training method `method`.

    Args:
        method: a name from `kerobust.catalog.TRAINING_METHODS`.
        threat_norm: the training threat norm.
        adversarial_share: the share of adversarial training (below 1: mixed with natural batches).
        family_options: `(flag, family)` for each family-specific option the caller set, e.g.
            `("--kappa-end", "certified")`.
    """
    for flag, family_name in family_options:
        family = FAMILIES[family_name]
        if method not in family.methods:
            raise KerobustError(f"{flag} is {family.phrase} (--train-method {' / '.join(family.methods)}), not "
                                f"{method!r}.")
    if method == "lipschitz-margin" and threat_norm != "l2":
        raise KerobustError("lipschitz-margin training certifies l2 balls: pass --threat-norm l2 (an l-inf ball of "
                            "radius eps lies in the l2 ball of radius eps sqrt(d)).")
    if method.startswith("mat-") and threat_norm != "linf":
        raise KerobustError("MAT trains on l-inf and l2 together: keep --threat-norm linf (--eps) and set the l2 "
                            "radius with --l2-eps.")
    if not 0.0 < adversarial_share <= 1.0:
        raise KerobustError(f"adversarial share must be in (0, 1], got {adversarial_share}.")
    if adversarial_share < 1.0 and method in CERTIFIED:
        raise KerobustError("certified training mixes natural and verified losses by kappa (--kappa-end), not "
                            "--adversarial-share.")
    if adversarial_share < 1.0 and method not in MIXABLE:
        raise KerobustError(f"an adversarial share below 1 needs one of {', '.join(MIXABLE)}, not {method!r}.")
