"""`build_training_method(name, ...)`: the names behind `--train-method`."""

from kerobust.attacks import FGSM, PGD
from kerobust.errors import unknown_name
from kerobust.training.attack_training import AttackTraining
from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining
from kerobust.training.free import FreeTraining
from kerobust.training.natural import NaturalTraining

TRAINING_METHODS = ("natural", "fgsm", "pgd", "free", "pni")


def build_training_method(name, eps, steps=10, step_size=None, replays=4, norm="linf", seed=0):
    """Builds a training method.

    Args:
        name: one of `TRAINING_METHODS`.
        eps: training perturbation radius (pixel units).
        steps, step_size: PGD steps and step size (`pgd`, `pni`; Rakin et al. used PGD-7, step 0.01, eps 0.031 on
            CIFAR-10: pass them to reproduce); `step_size` is also FGSM's step (default 1.25 eps with a random start,
            as in Wong et al. 2020).
        replays: minibatch replays m (`free`).
        norm: "linf" or "l2".
        seed: seed of random starts.
    """
    if name == "natural":
        return NaturalTraining(seed=seed)
    if name == "fgsm":
        step = 1.25 * eps if step_size is None else step_size
        return AttackTraining(seed=seed, attack=FGSM(eps=eps, norm=norm, random_start=True, step_size=step))
    if name in ("pgd", "pni"):
        method = AttackTraining if name == "pgd" else CleanAndAdversarialTraining
        return method(seed=seed, attack=PGD(eps=eps, norm=norm, num_steps=steps, step_size=step_size))
    if name == "free":
        return FreeTraining(seed=seed, eps=eps, replays=replays, norm=norm)
    raise unknown_name("training method", name, TRAINING_METHODS)
