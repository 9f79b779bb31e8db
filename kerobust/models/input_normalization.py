"""The first layers of every kerobust model: optional input noise, then per-channel (x - mean) / std, so models
take [0, 1] pixels and every epsilon is in pixel units."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from kerobust.errors import KerobustError
from kerobust.layers import GaussianNoiseInjection
from kerobust.types import ArrayLike, Tensor


def input_normalization(mean: ArrayLike, std: ArrayLike) -> keras.layers.Layer:
    """A `keras.layers.Normalization` with fixed statistics (saved with the model, exported with it)."""
    mean = np.asarray(mean, dtype="float32")
    variance = np.square(np.asarray(std, dtype="float32"))
    return keras.layers.Normalization(mean=mean, variance=variance, name="input_normalization")


def require_input_size(arch: str, input_shape: Sequence[int], minimum: int, why: str = "") -> None:
    """A clear error unless (H, W, C) `input_shape` is at least `minimum` x `minimum`; `why` says what needs it."""
    if min(input_shape[:2]) < minimum:
        because = f" {why} and" if why else ""
        raise KerobustError(f"{arch}{because} needs inputs of at least {minimum}x{minimum}, got {tuple(input_shape)}.")


def image_input(input_shape: Sequence[int], mean: ArrayLike, std: ArrayLike, input_noise: float = 0.0,
                seed: int | None = None) -> tuple[Tensor, Tensor]:
    """`(inputs, x)`: the model's image input and its normalised tensor.

    Args:
        input_shape: (H, W, C) of [0, 1] images.
        mean, std: per-channel statistics.
        input_noise: standard deviation (pixels) of Gaussian noise added to the image in training and at
            inference (Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification",
            section 3.2.1); 0 for none.
        seed: seed of the noise (None: from Python's `random`, which `keras.utils.set_random_seed` seeds).
    """
    if input_noise < 0:
        raise KerobustError(f"input_noise must be >= 0, got {input_noise!r}.")
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    if input_noise > 0:
        x = GaussianNoiseInjection(input_noise, seed=seed, name="input_noise")(x)
    return inputs, input_normalization(mean, std)(x)
