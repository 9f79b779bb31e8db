"""Attack lists from the command line: `fgsm,pgd-20,apgd-ce,apgd-t-50,square-1000,autoattack`.

Each item is a name with an optional step (or query) count after a dash; `autoattack` is the suite of
`kerobust.attacks.suite`. Attacks are instantiated once per eps of a sweep.
"""

import dataclasses

from kerobust.attacks import APGD, FGSM, PGD, Square
from kerobust.attacks.suite import SUITES, build_suite
from kerobust.errors import KerobustError, unknown_name

DEFAULT_STEPS = {"fgsm": 1, "pgd": 20, "apgd-ce": 100, "apgd-t": 100, "square": 5000}
ATTACK_NAMES = tuple(DEFAULT_STEPS) + tuple(SUITES)


@dataclasses.dataclass(frozen=True)
class AttackOptions:
    """Options shared by the attacks of one evaluation.

    Args:
        norm: "linf" or "l2".
        step_size: PGD step size; None: 2.5 eps / steps.
        restarts: PGD random restarts.
        targets: classes tried by APGD-T (and by PGD when > 0 is asked with `pgd_targets`).
        eot_samples: gradient samples per step for randomised models (expectation over transformation).
        square_queries: queries of Square inside the `autoattack` suite.
    """

    norm: str = "linf"
    step_size: float | None = None
    restarts: int = 1
    targets: int = 9
    eot_samples: int = 1
    square_queries: int = 5000


def parse_attack_list(text):
    """`[(name, steps or None)]` from `"fgsm,pgd-20,apgd-t"`; one-line errors for unknown names or bad counts."""
    specs = []
    for item in str(text).replace(" ", "").lower().split(","):
        if not item:
            continue
        name, steps = item, None
        head, _, tail = item.rpartition("-")
        if head and tail.isdigit():
            name, steps = head, int(tail)
        if name not in ATTACK_NAMES:
            raise unknown_name("attack", name, ATTACK_NAMES)
        if steps is not None and (steps < 1 or name in SUITES or name == "fgsm"):
            raise KerobustError(f"attack {item!r}: a step count must be >= 1 and only follows pgd, apgd-ce, apgd-t or square.")
        specs.append((name, steps))
    if not specs:
        raise KerobustError("the attack list is empty.")
    return specs


def build_attacks(specs, eps, options):
    """The attacks (and suites) of `specs` at radius `eps`."""
    built = []
    for name, steps in specs:
        steps = steps or DEFAULT_STEPS.get(name)
        if name == "fgsm":
            built.append(FGSM(eps=eps, norm=options.norm, eot_samples=options.eot_samples))
        elif name == "pgd":
            built.append(PGD(eps=eps, norm=options.norm, num_steps=steps, step_size=options.step_size,
                             restarts=options.restarts, eot_samples=options.eot_samples))
        elif name in ("apgd-ce", "apgd-t"):
            targets = options.targets if name == "apgd-t" else 0
            built.append(APGD(eps=eps, norm=options.norm, num_steps=steps, targets=targets, eot_samples=options.eot_samples))
        elif name == "square":
            built.append(Square(eps=eps, norm=options.norm, num_queries=steps))
        else:
            built.append(build_suite(name, eps, norm=options.norm, square_queries=options.square_queries,
                                     eot_samples=options.eot_samples, targets=options.targets))
    return built
