"""Evasion attacks usable on any Keras classifier (inference mode), and as rules inside training steps."""

from kerobust.attacks.apgd import APGD, apgd
from kerobust.attacks.attack import Attack
from kerobust.attacks.fab import FAB
from kerobust.attacks.fgsm import FGSM, fgsm
from kerobust.attacks.pgd import PGD, pgd
from kerobust.attacks.square import Square, square
from kerobust.attacks.suite import SUITES, AttackSuite, autoattack, build_suite

__all__ = [
    "APGD", "Attack", "AttackSuite", "FAB", "FGSM", "PGD", "SUITES", "Square", "apgd", "autoattack", "build_suite",
    "fgsm", "pgd", "square",
]
