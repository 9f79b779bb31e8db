"""Attack lists from the command line: `fgsm,pgd-20,apgd-ce,apgd-t-50,square-1000,autoattack`, parsed without a
framework so that a misspelt attack is answered at once.

Each item is a name with an optional step (or query) count after a dash; `autoattack` is the suite of
`kerobust.attacks.suite`. `kerobust.evaluation.attack_specs` builds the attacks.
"""

from __future__ import annotations

import re

from kerobust.catalog import ATTACK_STEPS, ATTACK_SUITES
from kerobust.errors import KerobustError, unknown_name

ATTACK_NAMES = tuple(ATTACK_STEPS) + ATTACK_SUITES


def parse_attack_list(text: str) -> list[tuple[str, int | None]]:
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
            counted = re.fullmatch(r"(.*[a-z])(\d+)", name)  # pgd20: the count without its dash
            if counted and counted.group(1) in ATTACK_STEPS:
                raise KerobustError(f"unknown attack {item!r}. Did you mean '{counted.group(1)}-{counted.group(2)}'? "
                                    "A step count follows a dash.")
            raise unknown_name("attack", name, ATTACK_NAMES)
        if steps is not None and (steps < 1 or name in ATTACK_SUITES or name == "fgsm"):
            raise KerobustError(f"attack {item!r}: a step count must be >= 1 and only follows pgd, apgd-ce, "
                                "apgd-dlr, apgd-t, fab, fab-t or square.")
        specs.append((name, steps))
    if not specs:
        raise KerobustError("the attack list is empty.")
    return specs
