"""Pooling layers: the windows' overlap bound (sound), Peck's (2017) Theorem 5.3 (thesis); max pooling is monotone
(IBP: [max l, max u]; CROWN: `MaxPoolNode`), average pooling linear with non-negative weights (IBP maps the radius
as it is; CROWN: an affine node). L_p pooling has no IBP or CROWN rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras

from kerobust.bounds.linear.boxes import linear_box, monotone_box
from kerobust.bounds.linear.graph_nodes import MaxPoolNode, Node, max_pool_window
from kerobust.bounds.lipschitz.pooling import pooling_lipschitz, thesis_pooling
from kerobust.bounds.rules.base import LayerRule
from kerobust.layers import LpPooling2D
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class PoolingRule(LayerRule):
    """The sound and thesis families every 2-D pooling layer shares."""

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return pooling_lipschitz(layer)

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[keras.layers.Layer, keras.KerasTensor]:
        return layer, layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return thesis_pooling(kappa, payload)


class MaxPoolingRule(PoolingRule):
    types = (keras.layers.MaxPooling2D, keras.layers.GlobalMaxPooling2D)
    label = "max pooling"

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return monotone_box(lambda t: layer(t, training=False), *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return [MaxPoolNode(output, inputs, layer, window=max_pool_window(layer, graph.shapes[inputs[0]]),
                            interval_rule=lambda boxes: self.interval(layer, boxes))]


class AveragePoolingRule(PoolingRule):
    types = (keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D)
    label = "average pooling"

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return linear_box(layer, *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)


class LpPoolingRule(PoolingRule):
    types = (LpPooling2D,)
    label = "L_p pooling"
