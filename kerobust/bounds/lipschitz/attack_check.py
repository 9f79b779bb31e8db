"""Checking bounds against attacks: the smallest perturbation an attack finds per sample, and the violations
(bound larger than a perturbation that changes the decision). See docs/bounds.md sections 5.1 and 7 (property 1).

* `fgs_line_search`: the attack of Peck's (2017) thesis (Algorithm 2.1): eta = eps sign(grad of the cross-entropy at
  the model's own prediction), with a per-sample binary search for the smallest flipping eps in [0, upper];
  ||eta|| = eps sqrt(#nonzero gradient entries). No box clipping, as in the thesis.
* `pgd_l2_search`: PGD-l2 (kerobust's `PGD`, pixels kept in [0, 1]) at a geometric ladder of radii; per sample the
  smallest ||x_adv - x|| among the runs that change the decision.
Both return +inf where no flip was found. Any found perturbation bounds the true minimum from above, so in sound mode
a violation is a bug.
"""

from __future__ import annotations

from typing import Iterable

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.attacks import PGD
from kerobust.attacks.predictions import predict_batches
from kerobust.types import Array, ArrayLike, Seed


def predictions(model: keras.Model, x: Array, batch_size: int = 256) -> Array:
    """The model's decisions (argmax), in batches."""
    return np.argmax(predict_batches(model, x, batch_size), axis=1)


def _sign_gradient(model: keras.Model, x: Array, labels: Array) -> Array:
    def loss(inputs):
        logits = model(inputs, training=False)
        return ops.sum(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    return np.sign(np.asarray(backend.gradient(loss, ops.convert_to_tensor(x))))


def fgs_line_search(model: keras.Model, x: ArrayLike, upper: float = 1.0, iterations: int = 30, batch_size: int = 256,
                    return_eps: bool = False) -> Array | tuple[Array, Array]:
    """Per-sample smallest FGS perturbation norm (thesis Algorithm 2.1, tolerance upper / 2^iterations); with
    `return_eps`, also the flipping eps themselves (the thesis's Tables 5.2 and 5.3 report eps)."""
    x = np.asarray(x, dtype="float32")
    norms, epsilons = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        labels = predictions(model, batch)
        direction = _sign_gradient(model, batch, labels)
        flips = lambda eps: predictions(model, (batch + eps.reshape(-1, *[1] * (batch.ndim - 1)) * direction)  # noqa: E731
                                        .astype("float32")) != labels
        low, high = np.zeros(len(batch)), np.full(len(batch), float(upper))
        found = flips(high)
        for _ in range(iterations):
            middle = (low + high) / 2
            flipped = flips(middle)
            high = np.where(flipped, middle, high)
            low = np.where(flipped, low, middle)
        count = np.sqrt(np.count_nonzero(direction.reshape(len(batch), -1), axis=1))
        norms.append(np.where(found, high * count, np.inf))
        epsilons.append(np.where(found, high, np.inf))
    if return_eps:
        return np.concatenate(norms), np.concatenate(epsilons)
    return np.concatenate(norms)


def pgd_l2_search(model: keras.Model, x: ArrayLike, radii: Iterable[float] | None = None, steps: int = 20,
                  seed: Seed = 0) -> Array:
    """Per-sample smallest PGD-l2 perturbation norm over `radii` (default 16 radii from 0.02 to 8, geometric)."""
    x = np.asarray(x, dtype="float32")
    radii = np.geomspace(0.02, 8.0, 16) if radii is None else radii
    labels = predictions(model, x)
    best = np.full(len(x), np.inf)
    for radius in radii:
        attack = PGD(eps=float(radius), norm="l2", steps=steps)  # step 2.5 eps / steps
        x_adv = np.asarray(attack(model, x, labels, seed=seed))
        flipped = predictions(model, x_adv) != labels
        norms = np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)
        best = np.where(flipped, np.minimum(best, norms), best)
    return best


def violations(bounds: ArrayLike, perturbation_norms: ArrayLike, rtol: float = 1e-5) -> Array:
    """Indices where a bound exceeds a found perturbation's norm (beyond float tolerance)."""
    bounds, perturbation_norms = np.asarray(bounds), np.asarray(perturbation_norms)
    return np.flatnonzero(bounds > perturbation_norms * (1 + rtol))
