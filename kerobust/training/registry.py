"""`build_training_method(name, ...)`: the names behind `--train-method`."""

from __future__ import annotations

from typing import Any

from kerobust.attacks import FGSM, PGD
from kerobust.catalog import CERTIFIED, MIXES, TRAINING_METHODS
from kerobust.errors import KerobustError, unknown_name
from kerobust.training.alp import LogitPairingTraining
from kerobust.training.attack_training import AttackTraining
from kerobust.training.certified import CertifiedTraining
from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining
from kerobust.training.free import FreeTraining
from kerobust.training.lipschitz_margin import LipschitzMarginTraining
from kerobust.training.mart import MartTraining
from kerobust.training.method import TrainingMethod
from kerobust.training.method_rules import (
    ALP_WEIGHT, MART_BETA, MTL_ALPHA, SABR_LAMBDA, TRADES_BETA, check_method_settings,
)
from kerobust.training.mixed_batches import MixedBatches
from kerobust.training.mixed_norm import MixedNormTraining
from kerobust.training.mtl_ibp import MtlIbpTraining
from kerobust.training.natural import NaturalTraining
from kerobust.training.sabr import SabrTraining
from kerobust.training.trades import TradesTraining


def build_training_method(name: str, eps: float, steps: int = 10, step_size: float | None = None, replays: int = 4,
                          norm: str = "linf", seed: int = 0, l2_eps: float | None = None,
                          adversarial_share: float = 1.0, mix: str = "batch", warmup_steps: int = 0,
                          free_box: bool = False, ramp_steps: int | None = None,
                          kappa_end: float | None = None, trades_beta: float = TRADES_BETA,
                          alp_weight: float = ALP_WEIGHT, mart_beta: float = MART_BETA,
                          sabr_lambda: float = SABR_LAMBDA, mtl_alpha: float = MTL_ALPHA,
                          warmup_regularizer: float = 0.0) -> TrainingMethod:
    """Builds a training method.

    Args:
        name: one of `TRAINING_METHODS`.
        eps: training perturbation radius (pixel units); for MAT the l-inf radius.
        steps, step_size: PGD steps and step size (`pgd`, `trades`, `alp`, `mart`, `pni`, `mat-*`; `sabr` and
            `mtl-ibp` scale both with the eps ramp; Rakin et al. used PGD-7, step 0.01, eps
            0.031 on CIFAR-10: pass them to reproduce); `step_size` is also FGSM's step (default 1.25 eps with a
            random start, as in Wong et al. 2020); for MAT it is the l-inf step (the l2 step is 2.5 l2_eps / steps);
            for `free` the replay step (default eps).
        replays: minibatch replays m (`free`).
        warmup_steps: optimizer steps over which free training ramps eps and its step from 0 (`free`); for the
            certified methods (`ibp`, `crown-ibp`, `sabr`, `mtl-ibp`, `lipschitz-margin`) the natural steps before
            their eps ramp.
        ramp_steps: optimizer steps of the certified methods' eps (and kappa, beta) ramp.
        kappa_end: the natural loss's final weight in certified training (default 0.5 for `ibp`, else 0).
        free_box: free training as Wong et al. 2020: the input is x + delta unclipped and delta is projected after each
            update so that x + delta stays in the [0, 1] box (default: Shafahi et al.'s clip of x + delta).
        norm: "linf" or "l2" (not for MAT, which trains on both).
        seed: seed of random starts.
        l2_eps: MAT's l2 radius (Araujo et al. used 0.83 with l-inf 0.031 on CIFAR-10).
        adversarial_share: share of adversarial training (below 1 wraps the method in `MixedBatches`).
        mix: "batch" (whole natural batches, as in Bigaud, Papereux & Rolland (2021), "Adversarial training for
            image classification") or "example".
        trades_beta, alp_weight, mart_beta: the weight of the KL term of `trades`, of the logit-pairing term of `alp`,
            of the KL term of `mart` (defaults: the papers' values, `kerobust.training.method_rules`).
        sabr_lambda: `sabr`'s box share lambda (the box's radius over eps), in (0, 1].
        mtl_alpha: `mtl-ibp`'s weight alpha of the IBP loss against the adversarial loss, in [0, 1].
        warmup_regularizer: lambda of Shi et al.'s (2021) warm-up regularisers for `ibp`, `crown-ibp`, `sabr`,
            `mtl-ibp` (0: off; they used 0.5, with `kerobust.training.fast_ibp.ibp_initialize` on the model).
    """
    if mix not in MIXES:
        raise unknown_name("mix", mix, MIXES)
    family_options = [("free_box", "free")] if free_box else []
    if ramp_steps or kappa_end is not None:
        family_options.append(("ramp_steps / kappa_end", "certified"))
    if warmup_steps and name not in CERTIFIED:  # the certified methods' warm-up is their natural phase
        family_options.append(("warmup_steps", "free"))
    for option, value, default, family, valid in (
            ("trades_beta", trades_beta, TRADES_BETA, "trades", ">= 0"),
            ("alp_weight", alp_weight, ALP_WEIGHT, "alp", ">= 0"),
            ("mart_beta", mart_beta, MART_BETA, "mart", ">= 0"),
            ("sabr_lambda", sabr_lambda, SABR_LAMBDA, "sabr", "in (0, 1]"),
            ("mtl_alpha", mtl_alpha, MTL_ALPHA, "mtl-ibp", "in [0, 1]"),
            ("warmup_regularizer", warmup_regularizer, 0.0, "ibp-init", ">= 0")):
        if value != default:
            family_options.append((option, family))
        inside = {">= 0": value >= 0, "in (0, 1]": 0 < value <= 1, "in [0, 1]": 0 <= value <= 1}[valid]
        if not inside:
            raise KerobustError(f"{option} must be {valid}, got {value!r}.")
    check_method_settings(name, norm, adversarial_share, family_options)
    schedule: dict[str, Any] = dict(seed=seed, eps=eps, norm=norm, warmup_steps=warmup_steps,
                                    ramp_steps=max(1, ramp_steps or 1), kappa_end=kappa_end,
                                    warmup_regularizer_weight=warmup_regularizer)
    if name == "lipschitz-margin":
        return LipschitzMarginTraining(**schedule)
    if name == "sabr":
        return SabrTraining(box_share=sabr_lambda, attack=PGD(eps=eps, norm=norm, steps=steps, step_size=step_size),
                            **schedule)
    if name == "mtl-ibp":
        return MtlIbpTraining(alpha=mtl_alpha, attack=PGD(eps=eps, norm=norm, steps=steps, step_size=step_size),
                              **schedule)
    if name in CERTIFIED:
        return CertifiedTraining(bound=name, **schedule)
    if name in ("trades", "alp", "mart"):
        return _paired(name, eps, steps, step_size, norm, seed, trades_beta, alp_weight, mart_beta)
    method = _build(name, eps, steps, step_size, replays, norm, seed, l2_eps, warmup_steps, free_box)
    if adversarial_share < 1.0:
        method = MixedBatches(seed=seed, inner=method, adversarial_share=adversarial_share, mix=mix)
    return method


def _paired(name, eps, steps, step_size, norm, seed, trades_beta, alp_weight, mart_beta):
    """TRADES and MART attack from their authors' Gaussian start (0.001), ALP from Madry et al.'s uniform one."""
    attack = PGD(eps=eps, norm=norm, steps=steps, step_size=step_size, gaussian_start=0.0 if name == "alp" else 1e-3)
    if name == "trades":
        return TradesTraining(seed=seed, attack=attack, beta=trades_beta)
    if name == "alp":
        return LogitPairingTraining(seed=seed, attack=attack, weight=alp_weight)
    return MartTraining(seed=seed, attack=attack, beta=mart_beta)


def _build(name, eps, steps, step_size, replays, norm, seed, l2_eps, warmup_steps=0, free_box=False):
    if name == "natural":
        return NaturalTraining(seed=seed)
    if name == "fgsm":
        step = 1.25 * eps if step_size is None else step_size
        return AttackTraining(seed=seed, attack=FGSM(eps=eps, norm=norm, random_start=True, step_size=step))
    if name in ("pgd", "pni"):
        method = AttackTraining if name == "pgd" else CleanAndAdversarialTraining
        return method(seed=seed, attack=PGD(eps=eps, norm=norm, steps=steps, step_size=step_size))
    if name == "free":
        return FreeTraining(seed=seed, eps=eps, replays=replays, norm=norm, step_size=step_size,
                            warmup_steps=warmup_steps, box=free_box)
    if name in ("mat-rand", "mat-max"):
        if l2_eps is None or l2_eps <= 0:
            raise KerobustError(f"{name} needs an l2 radius > 0 (--l2-eps), got {l2_eps}.")
        return MixedNormTraining(
            seed=seed, selection=name.split("-")[1],
            linf_attack=PGD(eps=eps, norm="linf", steps=steps, step_size=step_size),
            l2_attack=PGD(eps=l2_eps, norm="l2", steps=steps),
        )
    raise unknown_name("training method", name, TRAINING_METHODS)
