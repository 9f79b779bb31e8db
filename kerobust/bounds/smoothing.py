"""Randomised smoothing: certified l2 radii of the smoothed classifier g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c).

Reference: Cohen, Rosenfeld and Kolter 2019, "Certified Adversarial Robustness via Randomized Smoothing",
Algorithm CERTIFY and Theorem 1: draw n0 noisy copies to guess the top class c_A, then n more to count it; with
the one-sided Clopper-Pearson lower bound p_A of P(f = c_A) at level 1 - alpha, g is constant on the l2 ball of
radius sigma Phi^-1(p_A) when p_A > 1/2, else CERTIFY abstains. The certificate is probabilistic: each holds with
probability at least 1 - alpha over the noise. Inputs are not clipped to [0, 1], as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
from scipy.stats import beta, norm

from kerobust.attacks.predictions import predict
from kerobust.types import Array, ArrayLike


def clopper_pearson_lower(successes: ArrayLike, trials: ArrayLike, alpha: float) -> Array:
    """One-sided lower confidence bound at level 1 - alpha of a binomial proportion (exact, Clopper-Pearson)."""
    successes = np.asarray(successes)
    return np.where(successes > 0, beta.ppf(alpha, np.maximum(successes, 1), trials - successes + 1), 0.0)


@dataclasses.dataclass(frozen=True)
class SmoothingCertificate:
    """Per point: the smoothed prediction (-1: abstained), the lower bound p_A and the certified l2 radius (0 when
    abstained)."""

    prediction: np.ndarray
    p_lower: np.ndarray
    radius: np.ndarray


def certify_smoothed(model: keras.Model, x: ArrayLike, sigma: float, samples: int = 1000, selection_samples: int = 100,
                     alpha: float = 0.001, batch_size: int = 1000, seed: int = 0,
                     progress: Callable[[int], None] | None = None) -> SmoothingCertificate:
    """Cohen et al.'s CERTIFY for every point of `x` (numpy), with a Keras classifier `model` as the base f."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, "float32")
    classes = int(model.output_shape[-1])

    def counts(point, draws):
        found = np.zeros(classes, "int64")
        for start in range(0, draws, batch_size):
            size = min(batch_size, draws - start)
            noisy = point[None] + sigma * rng.standard_normal((size,) + point.shape).astype("float32")
            predicted = np.argmax(predict(model, noisy), axis=1)
            found += np.bincount(predicted, minlength=classes)
        return found

    prediction = np.full(len(x), -1, "int64")
    p_lower = np.zeros(len(x))
    for i, point in enumerate(x):
        guess = int(np.argmax(counts(point, selection_samples)))
        p_lower[i] = clopper_pearson_lower(counts(point, samples)[guess], samples, alpha)
        if p_lower[i] > 0.5:
            prediction[i] = guess
        if progress is not None:
            progress(i + 1)
    radius = np.where(prediction >= 0, sigma * norm.ppf(np.clip(p_lower, 0.5, 1.0)), 0.0)
    return SmoothingCertificate(prediction, p_lower, radius)
