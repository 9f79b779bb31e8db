"""Projected gradient descent (ascent on the loss) in l-inf or l2."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
from keras import ops

import kerobust.attacks.losses as losses
import kerobust.attacks.lp_geometry as geo
from kerobust import backend
from kerobust.attacks.attack import Attack
from kerobust.attacks.restarts import restarted
from kerobust.backend.oracle import Oracle
from kerobust.errors import KerobustError
from kerobust.types import ArrayLike, LossFn, Seed, Tensor


@dataclasses.dataclass(frozen=True)
class PGD(Attack):
    """`steps` steepest-ascent steps of `step_size`, each projected onto the eps-ball and the input box.

    The loop is `keras.ops.fori_loop` (one while-loop in the compiled graph). Untargeted (`targets=0`), it
    maximises `loss` and returns the last iterate (Madry et al.). With `targets=k` it runs one attack on the targeted
    margin `z_t - z_y` for each of the k classes with the highest clean logits and keeps, per point, the first that
    changes the decision (multi-targeted PGD): on a linear model this finds a misclassification whenever one exists
    in the ball. `restarts=r` reruns each attack from r random starts, keeping per point the first that succeeds.
    With `targeted=True` the labels passed in are target classes and PGD descends `loss` towards them (Kurakin et
    al. 2017, "Adversarial Machine Learning at Scale", sec. 2); success then means reaching the target.
    `step_size` defaults to `2.5 * eps / steps`. `gaussian_start=s > 0` starts from x + N(0, s^2 I) (kept in the ball
    and the box) instead of a uniform point of the ball: TRADES and MART start at s = 0.001, where the KL divergence
    from the clean output, flat at x, has a gradient.

    Reference: Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks", eq. (2);
    targeted restarts as in Croce & Hein 2020 (APGD-T) and Gowal et al. 2019 (MultiTargeted).
    """

    steps: int = 10  # type: ignore[assignment]  # a field here, a property of one step in `Attack`
    step_size: float | None = None
    random_start: bool = True
    targets: int = 0
    restarts: int = 1
    targeted: bool = False
    gaussian_start: float = 0.0
    num_steps: dataclasses.InitVar[int | None] = None  # deprecated: `steps`

    name = "PGD"

    def __post_init__(self, num_steps: int | None = None) -> None:
        super().__post_init__()
        self._renamed("num_steps", "steps", num_steps)
        if int(self.steps) < 1:
            raise KerobustError(f"PGD needs steps >= 1, got {self.steps!r}.")
        object.__setattr__(self, "steps", int(self.steps))
        if self.step_size is not None and not self.step_size > 0:
            raise KerobustError(f"PGD step size must be > 0, got {self.step_size!r}.")
        if int(self.targets) < 0:
            raise KerobustError(f"PGD targets must be >= 0, got {self.targets!r}.")
        if int(self.restarts) < 1:
            raise KerobustError(f"PGD restarts must be >= 1, got {self.restarts!r}.")
        if not self.gaussian_start >= 0:
            raise KerobustError(f"PGD's Gaussian start scale must be >= 0, got {self.gaussian_start!r}.")
        if self.targeted and self.targets:
            raise KerobustError("PGD takes either targeted=True (given target labels) or targets=k (top-k classes).")

    def loss_fn(self, from_logits: bool = True) -> LossFn:
        if self.targets:
            return losses.targeted_margin(from_logits=from_logits)
        loss = super().loss_fn(from_logits=from_logits)
        return losses.negated(loss) if self.targeted else loss

    @property
    def alpha(self) -> float:
        """The step size actually used."""
        return 2.5 * self.eps / self.steps if self.step_size is None else self.step_size

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        if not self.targets and self.restarts == 1:
            return self._ascend(oracle, x, y, seed)
        run = lambda labels, offset: self._ascend(oracle, x, labels, seed + offset, offset)  # noqa: E731
        return restarted(oracle, x, y, run, restarts=int(self.restarts), targets=int(self.targets),
                         targeted=self.targeted)

    def perturb_scaled(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor, scale: float | Tensor) -> Tensor:
        """`perturb` (untargeted, one restart) with the radius and the step multiplied by `scale`, which may be a
        tensor: certified training's eps ramp (SABR, MTL-IBP) attacks at the ramp's radius."""
        return self._ascend(oracle, x, y, seed, scale=scale)

    def _ascend(self, oracle, x, y, seed, offset=0, scale=1.0):
        eps, alpha = self.eps * scale, self.alpha * scale
        x_adv = x
        if self.gaussian_start:
            start = geo.project(self.gaussian_start * backend.normal(ops.shape(x), seed), eps, self.norm)
            x_adv = geo.clip_to_box(x + start, self.clip_min, self.clip_max)
        elif self.random_start:
            x_adv = geo.clip_to_box(x + geo.random_start(x, eps, self.norm, seed), self.clip_min, self.clip_max)

        def step(k, x_adv):
            x_next = x_adv + geo.steepest_ascent(self.gradient(oracle, x_adv, y, offset * self.steps + k), alpha,
                                                 self.norm)
            x_next = x + geo.project(x_next - x, eps, self.norm)
            return geo.clip_to_box(x_next, self.clip_min, self.clip_max)

        return ops.stop_gradient(ops.fori_loop(0, self.steps, step, x_adv))


def pgd(model: keras.Model, x: ArrayLike, y: ArrayLike, eps: float, steps: int = 10, step_size: float | None = None,
        norm: str = "linf", random_start: bool = True, targets: int = 0, restarts: int = 1, seed: Seed = 0,
        **kwargs: Any) -> Tensor:
    """PGD adversarial examples for one batch; see `PGD`."""
    attack = PGD(
        eps=eps, norm=norm, steps=steps, step_size=step_size, random_start=random_start, targets=targets,
        restarts=restarts, **kwargs
    )
    return attack(model, x, y, seed)
