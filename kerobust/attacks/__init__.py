"""Evasion attacks usable on any Keras classifier (inference mode), and as rules inside training steps."""

from kerobust.attacks.apgd import APGD, apgd
from kerobust.attacks.attack import Attack
from kerobust.attacks.fgsm import FGSM, fgsm
from kerobust.attacks.pgd import PGD, pgd

__all__ = ["APGD", "Attack", "FGSM", "PGD", "apgd", "fgsm", "pgd"]
