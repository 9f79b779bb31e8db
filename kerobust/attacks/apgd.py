"""Auto-PGD: PGD with momentum and a step size that halves itself when progress stalls (APGD-CE, APGD-T).

Reference: Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", Algorithm 1 (momentum 0.75, step 2 eps, checkpoints p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), halving under condition 1 (fewer than rho = 75 % of the steps since
the last checkpoint raised the loss) or condition 2 (step and best loss unchanged since the last checkpoint, then
restarting from the best point)) and section 4 (APGD-T: the targeted DLR loss against each of the top-k classes).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
from keras import ops

import kerobust.attacks.losses as losses
import kerobust.attacks.lp_geometry as geo
from kerobust.attacks.attack import Attack
from kerobust.attacks.lp_geometry import per_sample
from kerobust.attacks.restarts import restarted
from kerobust.backend.oracle import Oracle
from kerobust.errors import KerobustError
from kerobust.types import ArrayLike, LossFn, Seed, Tensor


def checkpoints(num_steps: int) -> list[int]:
    """The iterations w_1 < w_2 < ... <= num_steps at which APGD may halve its step (Croce & Hein 2020, sec. 3.2)."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = sorted({min(math.ceil(round(q * num_steps, 6)), num_steps) for q in p[1:]} - {0})  # round: 0.57 * 100
    return marks


@dataclasses.dataclass(frozen=True)
class APGD(Attack):
    """APGD-CE (`targets=0`, cross-entropy), APGD-DLR (`targets=0, loss="dlr"`) or APGD-T (`targets=k`, targeted DLR
    loss against each of the k classes with the highest clean logits, keeping per point the first run that changes
    the decision). `restarts=r` reruns each from r random starts (AutoAttack's "plus" version: 5 for APGD-CE and
    APGD-DLR).

    Returns, per point, the first adversarial iterate found, or else the iterate of highest loss. Costs `steps + 1`
    forward and backward passes per run (times `targets` for APGD-T): each pass scores an iterate and gives the
    gradient of the next step.
    """

    steps: int = 100  # type: ignore[assignment]  # a field here, a property of one step in `Attack`
    targets: int = 0
    rho: float = 0.75
    momentum: float = 0.75
    random_start: bool = True
    restarts: int = 1
    num_steps: dataclasses.InitVar[int | None] = None  # deprecated: `steps`

    def __post_init__(self, num_steps: int | None = None) -> None:
        super().__post_init__()
        self._renamed("num_steps", "steps", num_steps)
        if int(self.steps) < 1:
            raise KerobustError(f"APGD needs steps >= 1, got {self.steps!r}.")
        object.__setattr__(self, "steps", int(self.steps))
        if int(self.targets) < 0:
            raise KerobustError(f"APGD targets must be >= 0, got {self.targets!r}.")
        if int(self.restarts) < 1:
            raise KerobustError(f"APGD restarts must be >= 1, got {self.restarts!r}.")

    @property
    def name(self) -> str:  # type: ignore[override]  # read-only here, a plain class attribute in `Attack`
        if self.targets:
            return "APGD-T"
        return "APGD-DLR" if self.loss == "dlr" else "APGD-CE"

    @property
    def alpha(self) -> float:
        """The initial step size, 2 eps."""
        return 2.0 * self.eps

    def loss_fn(self, from_logits: bool = True) -> LossFn:
        if self.targets:
            return losses.targeted_dlr(from_logits=from_logits)
        return super().loss_fn(from_logits=from_logits)

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        labels = ops.cast(y, "int32")
        if not self.targets and self.restarts == 1:
            return self._run(oracle, x, y, labels, seed)
        run = lambda pairs, offset: self._run(oracle, x, pairs, labels, seed + offset, offset)  # noqa: E731
        return restarted(oracle, x, y, run, restarts=int(self.restarts), targets=int(self.targets))

    def _project(self, x, candidate):
        return geo.clip_to_box(x + geo.project(candidate - x, self.eps, self.norm), self.clip_min, self.clip_max)

    def _run(self, oracle, x, y, labels, seed, offset=0):
        n = self.steps
        marks = checkpoints(n)
        since = np.zeros(n + 1, "float32")  # iterations since the previous checkpoint, at each checkpoint, else 0
        since[marks] = np.diff([0] + marks)
        since = ops.convert_to_tensor(since)

        x0 = x
        if self.random_start:
            x0 = geo.clip_to_box(x + geo.random_start(x, self.eps, self.norm, seed), self.clip_min, self.clip_max)
        outputs0, grad0 = self.logits_and_gradient(oracle, x0, y, offset * (n + 1))
        loss0 = oracle.loss(y, outputs0, per_sample=True)
        fooled0 = ops.argmax(outputs0, axis=-1) != labels
        eta = ops.full(ops.shape(loss0), self.alpha)
        zeros = ops.zeros_like(loss0)
        state = (x0, x0, grad0, loss0, eta, loss0, x0, grad0, zeros, eta, loss0, x0, fooled0)

        def step(k, state):
            (x_cur, x_prev, grad, loss_cur, eta, f_max, x_max, grad_max, increases, eta_mark, f_max_mark, best_adv,
             found) = state
            z = self._project(x, x_cur + geo.steepest_ascent(grad, 1.0, self.norm) * per_sample(eta, x))
            a = ops.where(k == 0, 1.0, self.momentum)
            x_next = self._project(x, x_cur + a * (z - x_cur) + (1.0 - a) * (x_cur - x_prev))
            # One forward and backward pass scores the iterate (loss, decision) and gives the next step's gradient.
            outputs, grad_next = self.logits_and_gradient(oracle, x_next, y, offset * (n + 1) + k + 1)
            loss_next = oracle.loss(y, outputs, per_sample=True)
            fooled = ops.argmax(outputs, axis=-1) != labels
            best_adv = ops.where(per_sample(ops.logical_and(fooled, ops.logical_not(found)), x), x_next, best_adv)
            found = ops.logical_or(found, fooled)
            increases = increases + ops.cast(loss_next > loss_cur, "float32")
            improved = loss_next > f_max
            x_max = ops.where(per_sample(improved, x), x_next, x_max)
            grad_max = ops.where(per_sample(improved, x), grad_next, grad_max)
            f_max = ops.where(improved, loss_next, f_max)
            # At a checkpoint: halve the step where progress stalled, and restart those points from their best iterate.
            at_mark = ops.take(since, k + 1) > 0
            stalled = ops.logical_or(
                increases < self.rho * ops.take(since, k + 1),
                ops.logical_and(eta_mark == eta, f_max_mark == f_max),
            )
            halve = ops.logical_and(at_mark, stalled)
            eta = ops.where(halve, eta / 2.0, eta)
            restart = per_sample(halve, x)
            x_next = ops.where(restart, x_max, x_next)
            grad_next = ops.where(restart, grad_max, grad_next)
            loss_next = ops.where(halve, f_max, loss_next)
            x_cur = ops.where(restart, x_max, x_cur)  # no momentum across a restart
            eta_mark = ops.where(at_mark, eta, eta_mark)
            f_max_mark = ops.where(at_mark, f_max, f_max_mark)
            increases = ops.where(at_mark, 0.0, increases)
            return (x_next, x_cur, grad_next, loss_next, eta, f_max, x_max, grad_max, increases, eta_mark, f_max_mark,
                    best_adv, found)

        final = ops.fori_loop(0, n, step, state)
        x_max, best_adv, found = final[6], final[11], final[12]
        return ops.stop_gradient(ops.where(per_sample(found, x), best_adv, x_max))


def apgd(model: keras.Model, x: ArrayLike, y: ArrayLike, eps: float, steps: int = 100, norm: str = "linf",
         targets: int = 0, seed: Seed = 0, **kwargs: Any) -> Tensor:
    """APGD-CE (or APGD-T with `targets=k`) adversarial examples for one batch; see `APGD`."""
    return APGD(eps=eps, norm=norm, steps=steps, targets=targets, **kwargs)(model, x, y, seed)
