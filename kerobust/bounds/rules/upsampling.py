"""UpSampling2D with nearest-neighbour interpolation: every input value is copied into an a x b block, so the map is
linear with all singular values sqrt(a b) (sound: Lipschitz constant sqrt(a b), exact), the box is copied as it is
(IBP, exact) and CROWN sees an affine node. Bilinear interpolation is refused (its constant is not sqrt(a b)).
Peck (2017) has no thesis rule for it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import keras

from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.bounds.linear.graph_nodes import Node
from kerobust.bounds.linear.boxes import linear_box
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class UpSampling2DRule(LayerRule):
    types = (keras.layers.UpSampling2D,)
    label = "UpSampling2D (nearest)"

    def check(self, layer: keras.layers.Layer, family: str) -> str | None:
        if layer.interpolation != "nearest":
            return f"{layer.interpolation} interpolation; only nearest"
        return None if channels_last(layer) else "channels first"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return math.sqrt(math.prod(layer.size))

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return linear_box(layer, *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)
