"""Geometry of l-inf and l2 balls for attacks: steepest-ascent steps, projections, random starts.

All functions act per sample (axis 0 is the batch) and are written with `keras.ops`.
Reference: Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks", eq. (2) (PGD)
and its l2 variant (normalised-gradient step, projection by rescaling).
"""

from __future__ import annotations

from keras import ops

from kerobust import backend
from kerobust.catalog import THREAT_NORMS as NORMS
from kerobust.errors import unknown_name
from kerobust.types import Tensor

_TINY = 1e-12


def check_norm(norm: str, valid: tuple[str, ...] = NORMS) -> str:
    """Raises a clear error unless `norm` is one of `valid` (by default `NORMS`, the threat norms of every attack)."""
    if norm not in valid:
        raise unknown_name("norm", norm, valid)
    return norm


def l2_radius_factor(norm: str, dimension: int) -> float:
    """The factor that turns a radius in `norm` into the radius of an l2 ball containing that ball in `dimension`
    dimensions: 1 for l2, sqrt(d) for l-inf (the cube's half-diagonal)."""
    return 1.0 if check_norm(norm) == "l2" else float(dimension) ** 0.5


def _sample_axes(x):
    return tuple(range(1, len(x.shape)))


def per_sample(values: Tensor, like: Tensor) -> Tensor:
    """Reshapes a per-sample vector to broadcast against a batch shaped like `like`."""
    return ops.reshape(values, (-1,) + (1,) * (len(like.shape) - 1))


def l2_norm(x: Tensor) -> Tensor:
    """Per-sample l2 norm, broadcastable against `x`."""
    return ops.sqrt(ops.sum(ops.square(x), axis=_sample_axes(x), keepdims=True))


def steepest_ascent(grad: Tensor, step_size: float, norm: str) -> Tensor:
    """The step of length `step_size` (in `norm`) that increases a linearised loss the most."""
    if norm == "linf":
        return step_size * ops.sign(grad)
    return step_size * grad / ops.maximum(l2_norm(grad), _TINY)


def project(delta: Tensor, eps: float, norm: str) -> Tensor:
    """Euclidean projection of `delta` onto the `norm` ball of radius `eps` (rescaling for l2)."""
    if norm == "linf":
        return ops.clip(delta, -eps, eps)
    return delta * ops.minimum(1.0, eps / ops.maximum(l2_norm(delta), _TINY))


def random_start(x: Tensor, eps: float, norm: str, seed: Tensor) -> Tensor:
    """A perturbation for `x` drawn uniformly from the `norm` ball of radius `eps` (per sample)."""
    shape = ops.shape(x)
    if norm == "linf":
        return backend.uniform(shape, seed, -eps, eps)
    direction = backend.normal(shape, seed)
    direction = direction / ops.maximum(l2_norm(direction), _TINY)
    dims = 1
    for d in x.shape[1:]:
        dims *= d
    radius = backend.uniform((shape[0],) + (1,) * (len(shape) - 1), seed + 1) ** (1.0 / dims)
    return eps * radius * direction


def clip_to_box(x: Tensor, clip_min: float | None, clip_max: float | None) -> Tensor:
    """Clips to the valid input box; `None` bounds leave that side open."""
    if clip_min is None and clip_max is None:
        return x
    low = -float("inf") if clip_min is None else clip_min
    high = float("inf") if clip_max is None else clip_max
    return ops.clip(x, low, high)
