"""How an architecture's convolutions, their normalisation and its dense layers are made for a `--norm` choice
(the four columns of O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks") and, for noise networks,
with parametric noise (Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification")."""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

import keras

from kerobust.catalog import MODEL_NORMS as NORMS
from kerobust.errors import KerobustError, unknown_name
from kerobust.layers import ConvNorm, GroupedConv2D, NoisyConv2D, NoisyDense
from kerobust.layers.noise_injection import GRANULARITIES
from kerobust.types import Tensor


class ConvFactory:
    """Makes the layers of one model.

    * `norm="none"`: `Conv2D` with bias, no normalisation.
    * `norm="bn"`: `Conv2D` without bias, batch normalisation where the architecture puts it.
    * `norm="convnorm"`: `ConvNorm` (affine step on, its batch norm off) for every convolution; no batch norm.
    * `norm="bn+convnorm"`: `ConvNorm` with its built-in batch norm (the reference's default), which replaces the
      architecture's own batch norm.

    Args:
        norm: one of `NORMS`.
        noise: None, or a parametric-noise granularity ("layerwise", "channelwise", "elementwise"): convolutions and
            dense layers become `NoisyConv2D` / `NoisyDense` (Rakin et al. 2018).
        seed: first seed of the noise layers (each layer gets the next one, so their noise is independent); None
            draws it from Python's `random`, which `keras.utils.set_random_seed` (and so `kerobust fit --seed`) seeds.
        allowed: the norms this architecture supports.
    """

    def __init__(self, norm: str = "bn", noise: str | None = None, seed: int | None = None,
                 allowed: Collection[str] = NORMS):
        if norm not in allowed:
            raise unknown_name("norm", norm, allowed)
        if noise is not None and noise not in GRANULARITIES:
            raise unknown_name("noise granularity", noise, GRANULARITIES)
        if noise is not None and norm in ("convnorm", "bn+convnorm"):
            raise KerobustError(f"parametric noise and norm {norm!r} cannot be combined (ConvNorm has no noisy form).")
        self.norm = norm
        self.noise = noise
        self._seed = random.randrange(2**31 - 2**16) if seed is None else seed

    @property
    def tag(self) -> str:
        """The choice as it goes into a model name (Keras names cannot hold "+")."""
        return self.noise or self.norm.replace("+", "_")

    @property
    def uses_convnorm(self) -> bool:
        return self.norm in ("convnorm", "bn+convnorm")

    def _next_seed(self) -> int:
        self._seed += 1
        return self._seed

    def conv(self, filters: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
             name: str | None = None, groups: int = 1, padding: str = "same") -> keras.layers.Layer:
        """A convolution layer; its bias only when nothing normalises its output."""
        if self.uses_convnorm:
            if groups != 1:
                raise KerobustError("ConvNorm does not support grouped convolutions.")
            return ConvNorm(filters, kernel, strides=stride, padding=padding, batch_norm=self.norm == "bn+convnorm",
                            name=name)
        options: dict[str, Any] = dict(strides=stride, padding=padding, groups=groups, use_bias=self.norm == "none",
                                       kernel_initializer="he_normal", name=name)
        if self.noise is not None:
            return NoisyConv2D(filters, kernel, granularity=self.noise, seed=self._next_seed(), **options)
        if groups != 1:
            return GroupedConv2D(filters, kernel, **options)
        return keras.layers.Conv2D(filters, kernel, **options)

    def batch_norm(self, name: str) -> keras.layers.Layer:
        """Batch normalisation for `norm="bn"`; the identity otherwise (ConvNorm layers carry their own)."""
        if self.norm == "bn":
            return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
        return keras.layers.Identity(name=name)

    def conv_bn(self, x: Tensor, filters: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                name: str = "conv", groups: int = 1, padding: str = "same") -> Tensor:
        """conv -> batch norm (post-activation architectures)."""
        y = self.conv(filters, kernel, stride, name=name, groups=groups, padding=padding)(x)
        return self.batch_norm(f"{name}_bn")(y)

    def dense(self, units: int, name: str, activation: str | None = None) -> keras.layers.Layer:
        if self.noise is not None:
            return NoisyDense(units, activation=activation, granularity=self.noise, seed=self._next_seed(), name=name)
        return keras.layers.Dense(units, activation=activation, name=name)
