"""Square Attack: score-based black-box random search with square-shaped updates, in l-inf and l2.

Reference: Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a query-efficient black-box adversarial
attack via random search": Algorithm 1 (random search on the margin loss, accepting a candidate only when it lowers
the loss), Algorithm 2 (l-inf: a random h x h window of each channel set to -eps or +eps, after an initialisation
with vertical stripes), Algorithm 3 and eq. (2) (l2: a normalised pseudo-Gaussian bump of two opposite halves added
in a window W1, whose budget takes the mass of a second window W2 and any unused budget), and section 4's schedule
for the window side h = round(sqrt(p * w * w)), with p = p_init halved after 10, 50, 200, 500, 1000, 2000, 4000,
6000 and 8000 of 10,000 iterations (rescaled to `queries`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerobust import backend
import kerobust.attacks.losses as losses
import kerobust.attacks.lp_geometry as geo
from kerobust.attacks.attack import Attack
from kerobust.attacks.lp_geometry import per_sample
from kerobust.backend.oracle import Oracle
from kerobust.errors import KerobustError
from kerobust.types import Array, ArrayLike, LossFn, Seed, Tensor

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # iterations of a 10,000-query run where p halves
_SEED_STRIDE = 65536  # iteration k draws from seed + [0, (k + 1) * stride]: distinct for batch indices below it


def window_fraction(iteration: int, queries: int, p_init: float) -> float:
    """The fraction p of the pixels a square covers at `iteration` (0-based: the number of candidates queried so
    far), from the paper's schedule for 10,000 queries rescaled to `queries`."""
    scaled = int(iteration) * 10000 // int(queries)
    return p_init / 2 ** sum(scaled > t for t in HALVINGS)


def window_sides(queries: int, p_init: float, height: int, width: int) -> Array:
    """The square's side at each iteration 0 .. queries - 2 (one entry when there are none):
    round(sqrt(p * height * width)) clipped to [1, min(height, width) - 1], as an int32 array."""
    sides = [
        round(math.sqrt(window_fraction(k, queries, p_init) * height * width))
        for k in range(max(int(queries) - 1, 1))
    ]
    return np.clip(np.asarray(sides), 1, min(height, width) - 1).astype("int32")


def l2_bump(side: int) -> Array:
    """The l2 update of eq. (2) on a `side` x `side` window, normalised to unit l2 norm.

    The top floor(side / 2) rows hold a positive and the other rows a negative pseudo-Gaussian bump: in a half of
    r rows, the entry at Chebyshev distance d from the half's centre (row r // 2, column side // 2) is
    sum_{m = d + 1}^{n + 1} 1 / m^2 with n = side // 2 (nested squares, each adding 1 / (k + 1)^2 at radius k).
    """
    top = side // 2
    n = side // 2
    bump = np.zeros((side, side))
    for rows, first, sign in ((top, 0, 1.0), (side - top, top, -1.0)):
        for a in range(rows):
            for b in range(side):
                d = max(abs(a - rows // 2), abs(b - side // 2))
                bump[first + a, b] = sign * sum(1.0 / m**2 for m in range(d + 1, n + 2))
    return bump / np.sqrt(np.sum(bump**2))


@dataclasses.dataclass(frozen=True)
class Square(Attack):
    """The Square Attack: `queries` forward passes of random search, using only the model's outputs.

    Starting from vertical stripes of +-eps (l-inf) or a grid of signed bumps of norm eps (l2), each iteration
    changes one random square window per point (the same side h for the whole batch, from the schedule in
    `window_sides`), queries the margin loss `z_y - max_{j != y} z_j` and keeps the candidate only where it lowers
    that loss. Points already misclassified (margin < 0) stop changing, and the loop stops early once every point
    is. Candidates are clipped to the input box. Returns, per point, the best point found. Needs channels-last image
    batches (N, H, W, C) with H, W >= 2.

    Costs `queries` forward passes (one for the initialisation, one per iteration) and no gradients.
    """

    loss: str = "margin"
    queries: int = 5000
    p_init: float = 0.8
    num_queries: dataclasses.InitVar[int | None] = None  # deprecated: `queries`

    name = "Square"

    def __post_init__(self, num_queries: int | None = None) -> None:
        super().__post_init__()
        self._renamed("num_queries", "queries", num_queries)
        if int(self.queries) < 1:
            raise KerobustError(f"Square needs queries >= 1, got {self.queries!r}.")
        if not 0.0 < self.p_init <= 1.0:
            raise KerobustError(f"Square needs 0 < p_init <= 1, got {self.p_init!r}.")
        if self.loss != "margin":
            raise KerobustError(f"Square minimises the margin loss only (loss='margin'), got loss={self.loss!r}.")
        if int(self.eot_samples) != 1:
            raise KerobustError(
                "Square queries only the model's outputs: eot_samples (gradient averaging) does not apply."
            )

    def loss_fn(self, from_logits: bool = True) -> LossFn:
        # z_y - max_{j != y} z_j: Square minimises it; a point is misclassified once it is negative.
        return losses.negated(losses.margin(from_logits=from_logits))

    @property
    def steps(self) -> int:
        return int(self.queries)

    def __call__(self, model: keras.Model, x: ArrayLike, y: ArrayLike, seed: Seed = 0) -> Tensor:
        _check_images(np.shape(x))  # before compiling, so that the error is not wrapped by the tracer
        return super().__call__(model, x, y, seed)

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        _check_images(tuple(x.shape))
        seed = ops.cast(seed, "int32")
        if self.norm == "linf":
            x_best = self._box(x + self.eps * _signs((ops.shape(x)[0], 1, x.shape[2], x.shape[3]), seed))
            candidate = self._linf_candidate
        else:
            x_best = self._box(x + _l2_start(x, self.eps, seed))
            candidate = self._l2_candidate
        loss_best = oracle.losses(x_best, y)
        sides = ops.convert_to_tensor(window_sides(self.steps, self.p_init, x.shape[1], x.shape[2]))

        def cond(k, x_best, loss_best):
            return ops.logical_and(k < self.steps - 1, ops.any(loss_best >= 0.0))

        def body(k, x_best, loss_best):
            seed_k = seed + ops.stack([ops.zeros_like(k), (k + 1) * _SEED_STRIDE])
            x_new = candidate(x, x_best, ops.take(sides, k), seed_k)
            loss_new = oracle.losses(x_new, y)
            accept = ops.logical_and(loss_new < loss_best, loss_best >= 0.0)
            x_best = ops.where(per_sample(accept, x), x_new, x_best)
            return k + 1, x_best, ops.where(accept, loss_new, loss_best)

        k0 = ops.convert_to_tensor(0, dtype="int32")
        _, x_best, _ = ops.while_loop(cond, body, (k0, x_best, loss_best))
        return ops.stop_gradient(x_best)

    def _box(self, x):
        return geo.clip_to_box(x, self.clip_min, self.clip_max)

    def _linf_candidate(self, x, x_best, side, seed):
        """Algorithm 2: one random window per point, each channel of it set to -eps or +eps (sign drawn per
        channel)."""
        height, width, channels = x.shape[1:]
        u = backend.uniform((ops.shape(x)[0], 2 + channels), seed)
        mask = _window(height, width, side, _position(u[:, 0], height - side), _position(u[:, 1], width - side))
        signs = ops.where(u[:, 2:] < 0.5, -1.0, 1.0)[:, None, None, :]
        return ops.where(mask, self._box(x + self.eps * signs), x_best)

    def _l2_candidate(self, x, x_best, side, seed):
        """Algorithm 3: in window W1 of each channel, the direction of the current perturbation there plus a signed
        unit bump (eq. (2), transposed at random), rescaled to the channel's l2 mass in W1 and W2 plus an equal
        share of the unused budget; W2 is emptied. The total stays eps (then the box clips)."""
        height, width, channels = x.shape[1:]
        n = ops.shape(x)[0]
        u = backend.uniform((n, 5 + channels), seed)
        row1, col1 = _position(u[:, 0], height - side), _position(u[:, 1], width - side)
        in_1 = _window(height, width, side, row1, col1)
        in_2 = _window(height, width, side, _position(u[:, 2], height - side), _position(u[:, 3], width - side))
        bump = _bump_at(height, width, side, row1, col1, u[:, 4] < 0.5)
        rho = ops.where(u[:, 5:] < 0.5, -1.0, 1.0)[:, None, None, :]

        nu = x_best - x
        old = ops.where(in_1, nu, 0.0)
        signed_bump = ops.where(in_1, rho * bump, 0.0)
        direction = signed_bump + old / (_channel_norm(old) + 1e-10)
        # The bump can cancel the old direction (a 1 x 1 window of the opposite sign): then use the bump alone.
        direction = ops.where(_channel_norm(direction) < 1e-6, signed_bump, direction)
        unused = ops.maximum(self.eps**2 - ops.sum(ops.square(nu), axis=(1, 2, 3), keepdims=True), 0.0)
        mass = ops.square(_channel_norm(ops.where(ops.logical_or(in_1, in_2), nu, 0.0)))
        available = ops.sqrt(mass + unused / channels)
        new = direction / _channel_norm(direction) * available
        nu = ops.where(in_1, new, ops.where(in_2, 0.0, nu))
        return self._box(x + geo.project(nu, self.eps, "l2"))


def _check_images(shape):
    if len(shape) != 4 or None in shape[1:] or min(shape[1:3]) < 2:
        raise KerobustError(f"Square needs image batches (N, H, W, C) with H, W >= 2, got shape {tuple(shape)}.")


def _signs(shape, seed):
    return ops.where(backend.uniform(shape, seed) < 0.5, -1.0, 1.0)


def _position(u, last):
    """A uniform integer in {0, ..., last} per sample from uniform noise `u` in [0, 1)."""
    position = ops.cast(ops.floor(u * ops.cast(last + 1, "float32")), "int32")
    return ops.minimum(position, last)


def _window(height, width, side, row, col):
    """Masks (N, H, W, 1) of the side x side windows with top-left corners (row, col), one per sample."""
    rows = ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1, 1))
    cols = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width, 1))
    row, col = ops.reshape(row, (-1, 1, 1, 1)), ops.reshape(col, (-1, 1, 1, 1))
    in_rows = ops.logical_and(rows >= row, rows < row + side)
    return ops.logical_and(in_rows, ops.logical_and(cols >= col, cols < col + side))


def _bump_at(height, width, side, row, col, transpose):
    """`l2_bump(side)` (transposed where `transpose`) placed at (row, col) of each sample, as (N, H, W, 1); values
    outside the window are meaningless (the caller masks them)."""
    largest = min(height, width) - 1
    table = np.zeros((largest + 1, largest, largest), "float32")  # table[s] holds l2_bump(s) in its corner
    for s in range(1, largest + 1):
        table[s, :s, :s] = l2_bump(s)
    table = ops.convert_to_tensor(table.reshape(-1))
    a = ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1)) - ops.reshape(row, (-1, 1, 1))
    b = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width)) - ops.reshape(col, (-1, 1, 1))
    a, b = ops.broadcast_to(a, ops.shape(a + b)), ops.broadcast_to(b, ops.shape(a + b))
    flip = ops.reshape(transpose, (-1, 1, 1))
    a, b = ops.where(flip, b, a), ops.where(flip, a, b)
    a, b = ops.clip(a, 0, largest - 1), ops.clip(b, 0, largest - 1)
    return ops.take(table, (side * largest + a) * largest + b)[..., None]


def _l2_start(x, eps, seed):
    """The l2 initialisation: a centred grid of bumps `l2_bump(t)`, t = max(1, min(H, W) // 5), each transposed at
    random and signed at random per channel, rescaled to l2 norm eps per sample."""
    height, width, channels = x.shape[1:]
    n = ops.shape(x)[0]
    t = max(1, min(height, width) // 5)
    tiles_h, tiles_w = height // t, width // t
    top, left = (height - t * tiles_h) // 2, (width - t * tiles_w) // 2
    grid = np.zeros((2, height, width), "float32")
    grid[0, top:top + t * tiles_h, left:left + t * tiles_w] = np.tile(l2_bump(t), (tiles_h, tiles_w))
    grid[1, top:top + t * tiles_h, left:left + t * tiles_w] = np.tile(l2_bump(t).T, (tiles_h, tiles_w))
    padding = [(0, 0), (top, height - top - t * tiles_h), (left, width - left - t * tiles_w), (0, 0)]

    def per_tile(values):
        return ops.pad(ops.repeat(ops.repeat(values, t, axis=1), t, axis=2), padding)

    flip = per_tile(backend.uniform((n, tiles_h, tiles_w, 1), seed)) < 0.5  # the padding (0) is never read
    signs = per_tile(_signs((n, tiles_h, tiles_w, channels), seed + ops.convert_to_tensor([0, 1], dtype="int32")))
    grid = ops.convert_to_tensor(grid[..., None])
    start = ops.where(flip, grid[1], grid[0]) * signs
    return eps * start / ops.maximum(geo.l2_norm(start), 1e-12)


def _channel_norm(v):
    """Per-sample, per-channel l2 norm over the spatial axes, shape (N, 1, 1, C)."""
    return ops.sqrt(ops.sum(ops.square(v), axis=(1, 2), keepdims=True))


def square(model: keras.Model, x: ArrayLike, y: ArrayLike, eps: float, queries: int = 5000, norm: str = "linf",
           p_init: float = 0.8, seed: Seed = 0, **kwargs: Any) -> Tensor:
    """Square Attack adversarial examples for one batch; see `Square`."""
    return Square(eps=eps, norm=norm, queries=queries, p_init=p_init, **kwargs)(model, x, y, seed)
