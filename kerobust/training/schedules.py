"""Learning-rate schedules by name (`--lr-schedule`), driven by the optimizer's step counter."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import keras

from kerobust.catalog import LR_SCHEDULES as SCHEDULES
from kerobust.errors import KerobustError, require, unknown_name


def default_milestones(epochs: int) -> list[int]:
    """Epochs at 50 % and 75 % of training, as in Madry et al. 2018 and Rice et al. 2020 (100 and 150 of 200
    epochs); Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification" (the BIPARO
    report), section 2.1, trained 40 epochs with changes at 20 and 30."""
    return sorted({max(1, int(epochs * share)) for share in (0.5, 0.75)})


def _check_milestones(milestones: Iterable[int], epochs: int) -> list[int]:
    milestones = list(milestones)
    whole = all(isinstance(m, numbers.Integral) and not isinstance(m, bool) for m in milestones)
    increasing = all(a < b for a, b in zip(milestones, milestones[1:]))
    if not (milestones and whole and increasing and 1 <= milestones[0] and milestones[-1] <= epochs):
        raise KerobustError(
            f"milestones must be increasing whole epochs in [1, {epochs}], "
            f"got {', '.join(map(str, milestones)) or 'none'}."
        )
    return [int(m) for m in milestones]


def build_schedule(name: str, lr: float, epochs: int, steps_per_epoch: int, milestones: Iterable[int] | None = None,
                   gamma: float = 0.1, warmup_epochs: float = 0,
                   min_lr: float = 0.0) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A learning rate or Keras schedule of the optimizer step, so that a run resumed with the optimizer's restored
    `iterations` continues the schedule where it stopped.

    - `constant`: `lr` (a float).
    - `multistep`: `lr * gamma**i` after the i-th milestone epoch has completed, like PyTorch's `MultiStepLR`
      (Madry et al. 2018; Rice, Wong & Kolter 2020). Keras' `PiecewiseConstantDecay`.
    - `cosine`: `min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2` over the T steps after a linear warm-up from 0 to
      `lr` (Loshchilov & Hutter 2017, "SGDR", eq. (5), without restarts). Keras' `CosineDecay`.

    Args:
        name: one of `SCHEDULES`.
        lr: the peak learning rate.
        epochs: epochs as `milestones` and `warmup_epochs` count them.
        steps_per_epoch: optimizer steps per such epoch. Free training takes `replays` optimizer steps per batch over
            `epochs / replays` passes: pass either `(fit epochs, batches * replays)`, or, to keep milestones in the
            user's epoch budget, `(fit epochs * replays, batches)`.
        milestones: increasing epochs in [1, epochs] (multistep); default: 50 % and 75 % of `epochs`.
        gamma: multistep factor.
        warmup_epochs: linear warm-up epochs (cosine only), fewer than `epochs`.
        min_lr: the cosine floor, below `lr`.

    Returns:
        A float (constant) or a `keras.optimizers.schedules.LearningRateSchedule`, for `learning_rate=`.
    """
    if name not in SCHEDULES:
        raise unknown_name("learning-rate schedule", name, SCHEDULES)
    require(lr > 0, f"learning rate must be > 0, got {lr}.")
    require(epochs >= 1, f"epochs must be >= 1, got {epochs}.")
    require(steps_per_epoch >= 1, f"steps per epoch must be >= 1, got {steps_per_epoch}.")
    require(name == "multistep" or milestones is None, f"milestones apply to the multistep schedule, not {name!r}.")
    require(name == "cosine" or not warmup_epochs, f"warm-up epochs apply to the cosine schedule, not {name!r}.")
    if name == "constant":
        return float(lr)
    if name == "multistep":
        require(gamma > 0, f"gamma must be > 0, got {gamma}.")
        milestones = _check_milestones(default_milestones(epochs) if milestones is None else milestones, epochs)
        # PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]; step k is the (k+1)-th update, so the
        # update after epoch m, step m * steps_per_epoch, is the first with the decayed rate.
        boundaries = [m * steps_per_epoch - 1 for m in milestones]
        values = [lr * gamma**i for i in range(len(milestones) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    require(0 <= warmup_epochs < epochs, f"warm-up epochs must be in [0, {epochs - 1}], got {warmup_epochs}.")
    require(0 <= min_lr < lr, f"the cosine floor must be in [0, {lr}), got {min_lr}.")
    warmup = int(warmup_epochs * steps_per_epoch)
    decay = epochs * steps_per_epoch - warmup
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(float(lr), decay, alpha=min_lr / lr)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay, alpha=min_lr / lr, warmup_target=float(lr), warmup_steps=warmup
    )
