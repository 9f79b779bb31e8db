"""Norm decay: Liang & Huang (2021) Algorithm 1, a momentum-smoothed subgradient of the layers' l1 or l-inf
operator norms added to the loss gradient before the optimizer step.

Reference: Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", eq. (5) and
Algorithm 1: per step, p = grad ||theta_i||_p for each of the N conv and dense layers, h <- gamma h + (1 - gamma) p,
g <- g + beta / N h, then the optimizer step (so the term passes through the optimizer's momentum).

Follows the paper, not its public reference code: the strength is divided by N, h is the moving
average of line 5 (the code overwrote h on the argmax entries), and every conv geometry is exact (the code overwrote
weights with +-1 when the stride was at least the kernel size, and transposed non-square kernels).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable

from kerobust import backend
from kerobust.errors import KerobustError, unknown_name
from kerobust.norms.layer_norm import NORMS, kernel_norm, linear_layers
from kerobust.types import Tensor

if TYPE_CHECKING:
    import keras


@dataclasses.dataclass(frozen=True)
class NormDecay:
    """Liang & Huang (2021) Algorithm 1 over every Conv2D and Dense layer of a classifier.

    `kerobust.training.AdversarialModel(..., norm_decay=NormDecay(...))` applies it at each optimizer step of every
    training method (natural, FGSM, PGD, free, MAT, mixed batches); the momenta h live in the model's non-trainable
    weights, so checkpoints resume them.

    Args:
        norm: "l1" or "linf".
        beta: strength; each layer's term is beta / N (N: number of regularised layers).
        gamma: momentum of the subgradient's moving average (Liang & Huang (2021) used 0.5; 0: plain eq. (5)).
    """

    norm: str = "linf"
    beta: float = 1e-4
    gamma: float = 0.5

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise unknown_name("norm decay norm", self.norm, NORMS)
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise KerobustError(f"norm decay beta must be finite and >= 0, got {self.beta!r}.")
        if not 0 <= self.gamma < 1:
            raise KerobustError(f"norm decay gamma (momentum) must be in [0, 1), got {self.gamma!r}.")

    def targets(self, model: keras.Model) -> list[tuple[keras.layers.Layer, Callable[[Tensor], Tensor]]]:
        """`[(layer, fn(kernel) -> norm)]` for the model's trainable Conv2D and Dense layers (frozen ones are left out,
        and not counted in N)."""
        layers = linear_layers(model, trainable_only=True)
        if not layers:
            raise KerobustError(f"model {model.name!r} has no trainable Conv2D or Dense layer for norm decay.")
        return [(layer, kernel_norm(layer, self.norm)) for layer in layers]

    def step(self, kernels: Sequence[Tensor], momenta: Sequence[Tensor],
             norm_fns: Sequence[Callable[[Tensor], Tensor]]) -> tuple[list[Tensor], list[Tensor]]:
        """One step of Algorithm 1 lines 4-6 for every layer.

        Args:
            kernels: the layers' kernels (tensors).
            momenta: their moving averages h.
            norm_fns: `fn(kernel) -> norm` per layer.

        Returns:
            `(increments, momenta)`: the terms beta / N h to add to each kernel's gradient, and the new h.
        """
        scale = self.beta / len(kernels)
        new_momenta = [
            self.gamma * h + (1.0 - self.gamma) * backend.gradient(fn, kernel)
            for kernel, h, fn in zip(kernels, momenta, norm_fns)
        ]
        return [scale * h for h in new_momenta], new_momenta

    def describe(self) -> str:
        return f"{self.norm} norm decay (beta={self.beta:g}, gamma={self.gamma:g})"
