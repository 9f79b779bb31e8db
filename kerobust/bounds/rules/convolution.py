"""Conv2D layers (grouped and dilated too): the circular-operator / Frobenius bound times the activation's constant
(sound), Peck's (2017) Theorem 5.1 (thesis), the affine box and nodes (IBP, CROWN), power iteration per DFT frequency
(trainable)."""

from __future__ import annotations

from typing import Any

import keras

from kerobust.bounds.lipschitz.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.bounds.lipschitz.convolution import conv_lipschitz, thesis_conv
from kerobust.bounds.lipschitz.power_norms import conv_power_norm, power_vector_shape
from kerobust.bounds.rules.linear_layers import LinearLayerRule
from kerobust.types import Array, Tensor


class Conv2DRule(LinearLayerRule):
    types = (keras.layers.Conv2D,)
    label = "Conv2D"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return conv_lipschitz(layer, kernel) * activation_lipschitz(activation_name(layer.activation))

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[keras.layers.Layer, keras.KerasTensor]:
        return layer, layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return thesis_conv(kappa, payload.kernel)

    def power_vector_shape(self, layer: keras.layers.Layer) -> tuple[int, ...] | None:
        return power_vector_shape(layer)

    def trainable_lipschitz(self, layer: keras.layers.Layer, vector: keras.Variable | None, iterations: int) -> Tensor:
        return conv_power_norm(layer, vector, iterations) * activation_lipschitz(activation_name(layer.activation))
