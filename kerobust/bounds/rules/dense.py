"""Dense layers: ||V||_2 times the activation's constant (sound), Peck's (2017) dense-block Theorem 4.2 (thesis), the
affine box and the affine node followed by the activation's node (IBP, CROWN), and power iteration on V (trainable).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import ops

from kerobust.bounds.lipschitz.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.bounds.lipschitz.dense_block import dense_lipschitz, second_derivative_bound, thesis_dense_block
from kerobust.bounds.lipschitz.power_norms import dense_power_norm
from kerobust.bounds.rules.linear_layers import LinearLayerRule
from kerobust.types import Array, Tensor


class DenseRule(LinearLayerRule):
    types = (keras.layers.Dense,)
    label = "Dense"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return dense_lipschitz(layer, kernel)

    def thesis_step(self, layer: keras.layers.Layer
                    ) -> tuple[tuple[Sequence[keras.layers.Dense], float], keras.KerasTensor]:
        return self.thesis_block([layer]), layer.input

    @staticmethod
    def thesis_block(block: Sequence[keras.layers.Dense]) -> tuple[Sequence[keras.layers.Dense], float]:
        """The payload of a block of Dense layers applied as one (Peck 2017, Theorem 4.2)."""
        return block, second_derivative_bound(block)

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        block, m = payload
        flat = ops.reshape(tensor, (ops.shape(tensor)[0], math.prod(tensor.shape[1:])))
        return thesis_dense_block(kappa, flat, block, m)

    def power_vector_shape(self, layer: keras.layers.Layer) -> tuple[int, ...] | None:
        return (layer.kernel.shape[0],)

    def trainable_lipschitz(self, layer: keras.layers.Layer, vector: keras.Variable | None, iterations: int) -> Tensor:
        return dense_power_norm(layer, vector, iterations) * activation_lipschitz(activation_name(layer.activation))
