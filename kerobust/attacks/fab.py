"""FAB, the fast adaptive boundary attack: a minimum-norm attack that walks along the linearised decision boundary.

Reference: Croce & Hein 2020, "Minimally Distorted Adversarial Examples with a Fast Adaptive Boundary Attack"
(ICML), Algorithm 1 and section 3: at each iterate x, the decision boundary between the label y and a class j is
linearised, g_j(x) + grad g_j(x) . delta = 0 with g_j = z_j - z_y; both x and the original point x_orig are projected
onto that hyperplane intersected with the input box (eq. (4)); the step is the biased combination
(1 - a)(x + eta delta) + a (x_orig + eta delta_orig) with a = min(|delta| / (|delta| + |delta_orig|), alpha_max) and
overshoot eta; once an iterate is adversarial it is recorded if it is the closest found so far, and the next iterate
starts from x_orig + beta (x_adv - x_orig) (the backward step). Untargeted FAB takes per point the class whose
linearised boundary is closest; FAB-T (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", section 4) runs once per each of the `targets` classes of highest clean
logit, with one gradient per step. Restarts after the first run start from a random point at half the radius eps, as
in the authors' code. In l1 the projection is exact without a search: the coordinates with the largest |w_i| move
first, each as far as the box lets it (a fractional knapsack).

FAB answers two questions from one run: `minimal(model, x, y)` gives the smallest perturbation found per point
(its norm; infinity where none was found), and calling the attack gives adversarial examples at radius `eps` (the
closest one found where its norm is at most `eps`, else the unchanged point).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from kerobust.attacks import losses
from kerobust.attacks.attack import Attack, seed_pair
from kerobust.attacks.lp_geometry import per_sample
from kerobust import backend
from kerobust.attacks.restarts import likely_targets
from kerobust.backend.oracle import Oracle
from kerobust.errors import KerobustError
from kerobust.types import ArrayLike, LossFn, Seed, Tensor

BISECTION_STEPS = 30  # halvings of the projection's step bracket: 2^-30 of the bracket
DOUBLINGS = 30  # how far the bracket may grow past the unconstrained step before the box is declared in the way


def _flat(t: Tensor) -> Tensor:
    return ops.reshape(t, (ops.shape(t)[0], -1))


FAB_NORMS = ("linf", "l2", "l1")


def norm_of(delta: Tensor, norm: str) -> Tensor:
    """Per-sample l-inf, l2 or l1 norm (shape [batch])."""
    flat = _flat(delta)
    if norm == "linf":
        return ops.max(ops.abs(flat), axis=1)
    if norm == "l1":
        return ops.sum(ops.abs(flat), axis=1)
    return ops.sqrt(ops.sum(ops.square(flat), axis=1))


def dual_norm_of(w: Tensor, norm: str) -> Tensor:
    """Per-sample dual norm of a gradient: l1 for l-inf, l2 for l2, l-inf for l1 (distance to a hyperplane
    w . z = c is |w . p - c| / ||w||_dual)."""
    return norm_of(w, {"linf": "l1", "l2": "l2", "l1": "linf"}[norm])


def _project_l1(flat_p: Tensor, flat_w: Tensor, gap: Tensor, side: Tensor, low: float, high: float) -> Tensor:
    """The l1 projection: per sample, move coordinates in decreasing order of |w_i|, each up to the box, until
    w . z has moved by |gap| (exact: moving coordinate i costs 1 / |w_i| of l1 distance per unit of w . z)."""
    direction = ops.sign(flat_w) * side[:, None]
    room = ops.where(direction > 0, high - flat_p, flat_p - low)  # how far each coordinate may move
    weight = ops.abs(flat_w)
    order = ops.argsort(-weight, axis=1)
    weight_sorted = ops.take_along_axis(weight, order, axis=1)
    room_sorted = ops.take_along_axis(room, order, axis=1)
    reach = weight_sorted * room_sorted  # how far each coordinate can move w . z
    before = ops.cumsum(reach, axis=1) - reach
    moved_sorted = ops.clip((ops.abs(gap)[:, None] - before) / ops.maximum(weight_sorted, 1e-30), 0.0, room_sorted)
    moved_sorted = ops.where(weight_sorted > 0, moved_sorted, 0.0)
    moved = ops.take_along_axis(moved_sorted, ops.argsort(order, axis=1), axis=1)
    return ops.clip(flat_p + direction * moved, low, high)


def project_on_hyperplane(p: Tensor, w: Tensor, c: Tensor, norm: str, low: float, high: float) -> Tensor:
    """Per sample, a point z of the box [low, high] with w . z = c at the smallest `norm` distance from p (Croce &
    Hein 2020, eq. (4)); where the box keeps the hyperplane out of reach, the box point that comes closest to it.
    l1: `_project_l1`.

    z(tau) = clip(p + tau d, low, high) moves along d = s sign(w) (l-inf) or d = s w (l2), s the side of the
    hyperplane to move to; w . z(tau) is monotone in tau, so the smallest tau reaching c is found by bisection,
    starting from the step that would reach it without the box.
    """
    flat_p, flat_w = _flat(p), _flat(w)
    gap = c - ops.sum(flat_w * flat_p, axis=1)  # how far w . z must move
    side = ops.where(gap >= 0, 1.0, -1.0)
    if norm == "l1":
        return ops.reshape(_project_l1(flat_p, flat_w, gap, side, low, high), ops.shape(p))
    direction = (ops.sign(flat_w) if norm == "linf" else flat_w) * side[:, None]
    rate = ops.sum(flat_w * direction, axis=1)  # d(w . z) / d tau without the box: ||w||_1 or ||w||_2^2
    start = ops.abs(gap) / ops.maximum(rate, 1e-30)

    def reached(tau):
        z = ops.clip(flat_p + tau[:, None] * direction, low, high)
        return side * (ops.sum(flat_w * z, axis=1) - c) >= 0

    def grow(_, high_tau):
        return ops.where(reached(high_tau), high_tau, 2.0 * high_tau)

    high_tau = ops.fori_loop(0, DOUBLINGS, grow, start)
    low_tau = ops.zeros_like(start)

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        ok = reached(mid)
        return ops.where(ok, lo, mid), ops.where(ok, mid, hi)

    _, tau = ops.fori_loop(0, BISECTION_STEPS, halve, (low_tau, high_tau))
    tau = ops.where(ops.abs(gap) > 0, tau, 0.0)
    z = ops.clip(flat_p + tau[:, None] * direction, low, high)
    return ops.reshape(z, ops.shape(p))


@dataclasses.dataclass(frozen=True)
class FAB(Attack):
    """FAB (`targets=0`: untargeted, every class's boundary linearised at each step) or FAB-T (`targets=k`: one run
    against each of the k classes of highest clean logit), in l-inf, l2 or l1, with Croce & Hein's defaults.
    `restarts=r` adds r - 1 runs (per target) from random starts at half the radius eps.

    Costs per step one forward and backward pass per class (untargeted) or one (FAB-T, per target), plus one
    forward pass.
    """

    steps: int = 100  # type: ignore[assignment]  # a field here, a property of one step in `Attack`
    targets: int = 0
    restarts: int = 1
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9

    norms = FAB_NORMS

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.steps) < 1:
            raise KerobustError(f"FAB needs steps >= 1, got {self.steps!r}.")
        if int(self.targets) < 0:
            raise KerobustError(f"FAB targets must be >= 0, got {self.targets!r}.")
        if int(self.restarts) < 1:
            raise KerobustError(f"FAB restarts must be >= 1, got {self.restarts!r}.")
        if self.eot_samples != 1:
            raise KerobustError("FAB does not average gradients over noise draws (EOT); attack randomised models with "
                                "PGD or APGD and --eot.")
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "restarts", int(self.restarts))

    @property
    def name(self) -> str:  # type: ignore[override]  # read-only here, a plain class attribute in `Attack`
        return "FAB-T" if self.targets else "FAB"

    def loss_fn(self, from_logits: bool = True) -> LossFn:
        """The targeted margin z_t - z_y of label pairs [y, t]: the boundary function g_t whose gradient FAB uses."""
        return losses.targeted_margin(from_logits=from_logits)

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        adversarial, found_norm = self.closest(oracle, x, y, seed)
        within = ops.logical_and(found_norm <= self.eps * (1.0 + 1e-6), ops.isfinite(found_norm))
        return ops.where(per_sample(within, x), adversarial, x)

    def closest(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> tuple[Tensor, Tensor]:
        """`(x_adv, norms)`: per point the closest adversarial example found and its distance (infinity where FAB
        found none; then x_adv is x)."""
        y = ops.cast(y, "int32")
        classes = int(oracle.logits(x[:1]).shape[-1])
        if self.targets:
            pair_sets = [[pairs] for pairs in likely_targets(oracle, x, y, int(self.targets))]
        else:
            pair_sets = [[ops.stack([y, ops.full(ops.shape(y), j, "int32")], axis=1) for j in range(classes)]]
        runs = [self._run(oracle, x, y, pairs, self._start(x, restart, seed + run))
                for run, (pairs, restart) in enumerate((p, r) for p in pair_sets for r in range(self.restarts))]
        best_x, best_norm = runs[0]
        for candidate, norms in runs[1:]:
            closer = norms < best_norm
            best_x = ops.where(per_sample(closer, x), candidate, best_x)
            best_norm = ops.where(closer, norms, best_norm)
        return best_x, best_norm

    def _start(self, x: Tensor, restart: int, seed: Tensor) -> Tensor:
        """The first run starts at x; a restart at a random point at `norm` distance eps / 2 (clipped to the box)."""
        if restart == 0:
            return x
        if self.norm == "linf":
            direction = backend.uniform(ops.shape(x), seed, -1.0, 1.0)
        else:
            direction = backend.normal(ops.shape(x), seed)
        direction = direction / per_sample(ops.maximum(norm_of(direction, self.norm), 1e-12), x)
        low, high = self._box()
        return ops.clip(x + 0.5 * self.eps * direction, low, high)

    def _box(self) -> tuple[float, float]:
        return (0.0 if self.clip_min is None else self.clip_min), (1.0 if self.clip_max is None else self.clip_max)

    def _run(self, oracle, x, y, pair_sets, start):
        """One FAB run from `start` against the boundaries of `pair_sets` (label pairs [y, j]); the closest of them per
        point and step (for a pair j == y, never)."""
        low, high = self._box()
        x = ops.cast(x, "float32")
        infinite = ops.full((ops.shape(x)[0],), np.inf, "float32")

        def boundary(x_cur):
            """(g, w) of the closest linearised boundary per point: the pair minimising |g_j| / ||grad g_j||_q."""
            best_g, best_w, best_distance = None, None, None
            for pairs in pair_sets:
                outputs, w = oracle.logits_and_gradient(x_cur, pairs)  # one pass: g_j and its gradient
                g = oracle.loss(pairs, outputs, per_sample=True)
                distance = ops.abs(g) / ops.maximum(dual_norm_of(w, self.norm), 1e-12)
                distance = ops.where(pairs[:, 1] == pairs[:, 0], np.inf, distance)
                if best_g is None:
                    best_g, best_w, best_distance = g, w, distance
                    continue
                closer = distance < best_distance
                best_g = ops.where(closer, g, best_g)
                best_w = ops.where(per_sample(closer, x), w, best_w)
                best_distance = ops.where(closer, distance, best_distance)
            return best_g, best_w

        def step(_, state):
            x_cur, best_x, best_norm = state
            g, w = boundary(x_cur)
            c = ops.sum(_flat(w) * _flat(x_cur), axis=1) - g  # the hyperplane w . z = c through the boundary
            delta = project_on_hyperplane(x_cur, w, c, self.norm, low, high) - x_cur
            delta_orig = project_on_hyperplane(x, w, c, self.norm, low, high) - x
            size, size_orig = norm_of(delta, self.norm), norm_of(delta_orig, self.norm)
            alpha = ops.minimum(size / ops.maximum(size + size_orig, 1e-12), self.alpha_max)
            alpha = per_sample(alpha, x)
            x_next = ops.clip((1.0 - alpha) * (x_cur + self.eta * delta) + alpha * (x + self.eta * delta_orig),
                              low, high)
            fooled = ops.cast(ops.argmax(oracle.logits(x_next), axis=-1), "int32") != y
            distance = ops.where(fooled, norm_of(x_next - x, self.norm), np.inf)
            closer = distance < best_norm
            best_x = ops.where(per_sample(closer, x), x_next, best_x)
            best_norm = ops.where(closer, distance, best_norm)
            x_next = ops.where(per_sample(fooled, x), x + self.beta * (x_next - x), x_next)  # the backward step
            return x_next, best_x, best_norm

        already = ops.cast(ops.argmax(oracle.logits(x), axis=-1), "int32") != y  # misclassified: distance 0
        state = (ops.cast(start, "float32"), x, ops.where(already, 0.0, infinite))
        _, best_x, best_norm = ops.fori_loop(0, self.steps, step, state)
        return best_x, best_norm

    def minimal(self, model: keras.Model, x: ArrayLike, y: ArrayLike, seed: Seed = 0) -> np.ndarray:
        """The norm of the closest adversarial example found per point (0 for a point already misclassified,
        infinity where none was found): one run gives the robust accuracy at every radius."""
        from kerobust.backend import compile_attack

        loss = self.loss_fn(from_logits=losses.outputs_are_logits(model))
        run = compile_attack(model, lambda oracle, xs, ys, seeds: self.closest(oracle, xs, ys, seeds)[1], loss)
        return np.asarray(run(np.asarray(x, "float32"), np.asarray(y), seed_pair(seed)))
