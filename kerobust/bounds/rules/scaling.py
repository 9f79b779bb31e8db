"""Input normalisation (x - mean) / std and Rescaling(s): diagonal maps, max |1 / std| and |s| (sound and thesis:
bounds in the units of the model's input), their boxes (IBP) and affine nodes (CROWN)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras

from kerobust.bounds.linear.boxes import monotone_box
from kerobust.bounds.linear.graph_nodes import Node
from kerobust.bounds.lipschitz.pass_through import scaling_lipschitz
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class ScalingRule(LayerRule):
    types = (keras.layers.Normalization, keras.layers.Rescaling)
    label = "input normalisation, Rescaling"

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return scaling_lipschitz(layer)

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[float, keras.KerasTensor]:
        return scaling_lipschitz(layer), layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return kappa / payload  # the scaling's precomputed Lipschitz constant

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        centre, radius = boxes[0]
        if isinstance(layer, keras.layers.Rescaling):
            return layer(centre), radius * abs(float(layer.scale))
        return monotone_box(lambda t: layer(t, training=False), centre, radius)

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)
