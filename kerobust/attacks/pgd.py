"""Projected gradient descent (ascent on the loss) in l-inf or l2."""

import dataclasses

from keras import ops

from kerobust.attacks import lp_geometry as geo
from kerobust.attacks.attack import Attack
from kerobust.errors import KerobustError


@dataclasses.dataclass(frozen=True)
class PGD(Attack):
    """`num_steps` steepest-ascent steps of `step_size`, each projected onto the eps-ball and the input box.

    The loop is `keras.ops.fori_loop`, so a compiled attack is one XLA while-loop rather than an unrolled graph.
    Returns the last iterate (Madry et al.); `step_size` defaults to `2.5 * eps / num_steps`.

    Reference: Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks", eq. (2).
    """

    num_steps: int = 10
    step_size: float | None = None
    random_start: bool = True

    name = "PGD"

    def __post_init__(self):
        super().__post_init__()
        if int(self.num_steps) < 1:
            raise KerobustError(f"PGD needs steps >= 1, got {self.num_steps!r}.")
        if self.step_size is not None and not self.step_size > 0:
            raise KerobustError(f"PGD step size must be > 0, got {self.step_size!r}.")

    @property
    def steps(self):
        return int(self.num_steps)

    @property
    def alpha(self):
        """The step size actually used."""
        return 2.5 * self.eps / self.steps if self.step_size is None else self.step_size

    def perturb(self, grad_fn, x, y, seed):
        x_adv = x
        if self.random_start:
            x_adv = geo.clip_to_box(x + geo.random_start(x, self.eps, self.norm, seed), self.clip_min, self.clip_max)
        alpha = self.alpha

        def step(_, x_adv):
            x_next = x_adv + geo.steepest_ascent(grad_fn(x_adv, y), alpha, self.norm)
            x_next = x + geo.project(x_next - x, self.eps, self.norm)
            return geo.clip_to_box(x_next, self.clip_min, self.clip_max)

        return ops.stop_gradient(ops.fori_loop(0, self.steps, step, x_adv))


def pgd(model, x, y, eps, steps=10, step_size=None, norm="linf", random_start=True, seed=0, **kwargs):
    """PGD adversarial examples for one batch; see `PGD`."""
    attack = PGD(eps=eps, norm=norm, num_steps=steps, step_size=step_size, random_start=random_start, **kwargs)
    return attack(model, x, y, seed)
