"""Fast gradient sign method, with an optional random start."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
from keras import ops

import kerobust.attacks.lp_geometry as geo
from kerobust.attacks.attack import Attack
from kerobust.backend.oracle import Oracle
from kerobust.types import ArrayLike, Seed, Tensor


@dataclasses.dataclass(frozen=True)
class FGSM(Attack):
    """One steepest-ascent step of size `step_size` (default `eps`) from `x` or from a random start, projected.

    For `norm="l2"` the step follows the normalised gradient (fast gradient method).

    Reference: Goodfellow et al. 2015, "Explaining and Harnessing Adversarial Examples", eq. (3);
    random start: Wong et al. 2020, "Fast is better than free", Algorithm 3.
    """

    random_start: bool = False
    step_size: float | None = None

    name = "FGSM"

    @property
    def alpha(self) -> float:
        """The step size actually used."""
        return self.eps if self.step_size is None else self.step_size

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        x_start = x
        if self.random_start:
            x_start = geo.clip_to_box(x + geo.random_start(x, self.eps, self.norm, seed), self.clip_min, self.clip_max)
        x_adv = x_start + geo.steepest_ascent(self.gradient(oracle, x_start, y), self.alpha, self.norm)
        x_adv = x + geo.project(x_adv - x, self.eps, self.norm)
        return ops.stop_gradient(geo.clip_to_box(x_adv, self.clip_min, self.clip_max))


def fgsm(model: keras.Model, x: ArrayLike, y: ArrayLike, eps: float, norm: str = "linf", random_start: bool = False,
         step_size: float | None = None, seed: Seed = 0, **kwargs: Any) -> Tensor:
    """FGSM adversarial examples for one batch; see `FGSM`."""
    return FGSM(eps=eps, norm=norm, random_start=random_start, step_size=step_size, **kwargs)(model, x, y, seed)
