"""The attacks of a command-line attack list (`kerobust.attack_list.parse_attack_list`), instantiated once per eps of
a sweep."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from kerobust.attacks import APGD, FAB, FGSM, PGD, Attack, AttackSuite, Square
from kerobust.attacks.suite import build_suite
from kerobust.attack_list import ATTACK_NAMES, parse_attack_list  # noqa: F401  (re-exported)
from kerobust.catalog import ATTACK_STEPS as DEFAULT_STEPS


@dataclasses.dataclass(frozen=True)
class AttackOptions:
    """Options shared by the attacks of one evaluation.

    Args:
        norm: "linf" or "l2".
        step_size: PGD step size; None: 2.5 eps / steps.
        restarts: random restarts of PGD, APGD-CE, APGD-DLR and FAB (the suites set their own).
        targets: classes tried by APGD-T and FAB-T (and by PGD when > 0 is asked with `pgd_targets`).
        eot_samples: gradient samples per step for randomised models (expectation over transformation).
        square_queries: queries of Square inside the `autoattack` suite.
    """

    norm: str = "linf"
    step_size: float | None = None
    restarts: int = 1
    targets: int = 9
    eot_samples: int = 1
    square_queries: int = 5000


def build_attacks(specs: Sequence[tuple[str, int | None]], eps: float,
                  options: AttackOptions) -> list[Attack | AttackSuite]:
    """The attacks (and suites) of `specs` at radius `eps`."""
    built: list[Attack | AttackSuite] = []
    for name, steps in specs:
        steps = steps or DEFAULT_STEPS.get(name)
        if name == "fgsm":
            built.append(FGSM(eps=eps, norm=options.norm, eot_samples=options.eot_samples))
        elif name == "pgd":
            built.append(PGD(eps=eps, norm=options.norm,
                             steps=steps,  # type: ignore[arg-type]  # ATTACK_STEPS counts its steps: not None
                             step_size=options.step_size, restarts=options.restarts, eot_samples=options.eot_samples))
        elif name in ("apgd-ce", "apgd-dlr", "apgd-t"):
            targets = options.targets if name == "apgd-t" else 0
            built.append(APGD(eps=eps, norm=options.norm,
                              steps=steps,  # type: ignore[arg-type]  # ATTACK_STEPS counts its steps: not None
                              targets=targets, loss="dlr" if name == "apgd-dlr" else "ce",
                              restarts=options.restarts, eot_samples=options.eot_samples))
        elif name in ("fab", "fab-t"):
            built.append(FAB(eps=eps, norm=options.norm,
                             steps=steps,  # type: ignore[arg-type]  # ATTACK_STEPS counts its steps: not None
                             targets=options.targets if name == "fab-t" else 0, restarts=options.restarts,
                             eot_samples=options.eot_samples))
        elif name == "square":
            built.append(Square(eps=eps, norm=options.norm,
                                queries=steps))  # type: ignore[arg-type]  # ATTACK_STEPS counts its queries: not None
        else:
            built.append(build_suite(name, eps, norm=options.norm, square_queries=options.square_queries,
                                     eot_samples=options.eot_samples, targets=options.targets))
    return built
