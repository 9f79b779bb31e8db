"""Layers that are the identity at inference, or an isometric reshaping (Flatten, Reshape, Dropout and other noise
that is off at inference, ZeroPadding2D): Lipschitz constant 1, kappa unchanged, the box mapped as it is, an affine
node (docs/bounds.md section 2.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras

from kerobust.bounds.linear.graph_nodes import Node
from kerobust.bounds.lipschitz.pass_through import IDENTITY_LAYERS
from kerobust.bounds.linear.boxes import linear_box
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class IdentityRule(LayerRule):
    types = IDENTITY_LAYERS
    label = "Flatten, Reshape, Dropout, ZeroPadding2D and other inference-time identities"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return 1.0

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[None, keras.KerasTensor]:
        return None, layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return kappa

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return linear_box(layer, *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)
