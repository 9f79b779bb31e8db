"""LocalResponseNormalization: the gradient-norm bound of docs/bounds.md section 2.6 (sound) and Peck's (2017)
Theorem 5.9 (thesis). IBP and CROWN have no rule for it."""

from __future__ import annotations

from typing import Any

import keras

from kerobust.bounds.lipschitz.local_response_norm import lrn_lipschitz, thesis_lrn
from kerobust.bounds.rules.base import LayerRule
from kerobust.layers import LocalResponseNormalization
from kerobust.types import Array, Tensor


class LocalResponseNormalizationRule(LayerRule):
    types = (LocalResponseNormalization,)
    label = "LocalResponseNormalization"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return lrn_lipschitz(layer)

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[keras.layers.Layer, keras.KerasTensor]:
        return layer, layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return thesis_lrn(kappa, tensor, payload)
