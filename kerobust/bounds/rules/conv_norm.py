"""ConvNorm (Liu et al. 2021, "Convolutional Normalization"): a fixed linear operator at inference, bounded by its
preconditioned norm (sound) and relaxed by CROWN as an affine node; IBP would need |A| of the operator, which is not
formed, so it has no interval rule (CROWN bounds the tensor itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from kerobust.bounds.lipschitz.conv_norm import conv_norm_lipschitz
from kerobust.bounds.linear.graph_nodes import Node
from kerobust.bounds.rules.base import LayerRule
from kerobust.layers import ConvNorm
from kerobust.types import Array

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class ConvNormRule(LayerRule):
    types = (ConvNorm,)
    label = "ConvNorm"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return conv_norm_lipschitz(layer)

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)
