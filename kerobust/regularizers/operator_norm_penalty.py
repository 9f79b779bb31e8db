"""The l1 / l-inf operator norm of a layer as a plain Keras regulariser (Liang & Huang (2021) eq. (5), norm decay
with gamma = 0).

Reference: Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", eq. (5):
minimise L(theta) + beta / N sum_i ||theta_i||_p over the N conv and dense layers. Its gradient is the subgradient
that Algorithm 1 feeds to the optimizer when gamma = 0. For the momentum (gamma > 0) use `NormDecay` with kerobust's
training methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerobust.errors import KerobustError, unknown_name
from kerobust.norms.layer_norm import NORMS, layer_geometry, linear_layers, norm_function
from kerobust.types import Tensor


@keras.saving.register_keras_serializable(package="kerobust")
class OperatorNormPenalty(keras.regularizers.Regularizer):
    """`strength * ||layer||_p` for a Conv2D or Dense kernel, p in {1, inf}: the exact operator norm (Liang & Huang
    (2021) eq. (1), (2)), which depends on the layer's geometry, so a conv penalty carries it.

    Args:
        strength: the factor (Liang & Huang (2021)'s beta / N).
        norm: "l1" or "linf".
        input_size: (H, W) the conv sees; None for a Dense kernel.
        strides, padding, dilation, groups: the conv's geometry (ignored for Dense).
    """

    def __init__(self, strength: float, norm: str = "linf", input_size: Sequence[int] | None = None,
                 strides: Sequence[int] = (1, 1), padding: str | Sequence[Sequence[int]] = "valid",
                 dilation: Sequence[int] = (1, 1), groups: int = 1):
        if norm not in NORMS:
            raise unknown_name("norm", norm, NORMS)
        if not float(strength) >= 0:
            raise KerobustError(f"penalty strength must be >= 0, got {strength!r}.")
        self.strength = float(strength)
        self.norm = norm
        self.input_size = None if input_size is None else tuple(int(s) for s in input_size)
        self.strides = tuple(strides)
        self.padding = padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)
        self.dilation = tuple(dilation)
        self.groups = int(groups)

    def __call__(self, kernel: Tensor) -> Tensor:
        # `padding` is a mode or (before, after) pairs: `tuple(p)` makes each pair a tuple[int, ...] to mypy.
        norm = norm_function(self.norm, self.input_size, self.strides, self.padding,  # type: ignore[arg-type]
                             self.dilation, self.groups)
        return self.strength * norm(kernel)

    def get_config(self) -> dict[str, Any]:
        return {
            "strength": self.strength, "norm": self.norm, "input_size": self.input_size, "strides": self.strides,
            "padding": self.padding, "dilation": self.dilation, "groups": self.groups,
        }


def penalty_for(layer: keras.layers.Layer, strength: float, norm: str) -> OperatorNormPenalty:
    """An `OperatorNormPenalty` with the geometry of `layer` (Conv2D or Dense)."""
    return OperatorNormPenalty(strength, norm, **layer_geometry(layer))


def add_norm_penalty(model: keras.Model, beta: float, norm: str = "linf") -> int:
    """Puts the eq. (5) penalty of Liang & Huang (2021) on every Conv2D and Dense kernel of a built model:
    `beta / N * ||W_i||_p`.

    The penalty becomes the kernel's regulariser (in `model.losses`, so every Keras `fit` adds it) and the layer's
    `kernel_regularizer` (so a saved model keeps it). Frozen layers are left out and not counted, as in `NormDecay`.
    Returns the number N of penalised layers.
    """
    layers = linear_layers(model, trainable_only=True)
    if not layers:
        raise KerobustError(f"model {model.name!r} has no trainable Conv2D or Dense layer to penalise.")
    for layer in layers:
        penalty = penalty_for(layer, beta / len(layers), norm)
        layer.kernel_regularizer = penalty
        layer.kernel.regularizer = penalty
    return len(layers)
