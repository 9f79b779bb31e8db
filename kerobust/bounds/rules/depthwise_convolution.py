"""DepthwiseConv2D layers: each channel's own convolution bounded as a Conv2D's (sound), the affine box and nodes
(IBP, CROWN). Peck (2017) has no thesis rule for it."""

from __future__ import annotations

import keras

from kerobust.bounds.lipschitz.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.bounds.lipschitz.convolution import depthwise_lipschitz
from kerobust.bounds.rules.linear_layers import LinearLayerRule
from kerobust.norms.layer_norm import conv_input_size
from kerobust.types import Array


class DepthwiseConv2DRule(LinearLayerRule):
    types = (keras.layers.DepthwiseConv2D,)
    label = "DepthwiseConv2D"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        size = conv_input_size(layer)
        return depthwise_lipschitz(layer, size, kernel) * activation_lipschitz(activation_name(layer.activation))
