"""What Dense, Conv2D and DepthwiseConv2D share: an affine map W x + b and an elementwise activation. IBP maps the box
through the affine part, (W m + b, |W| r), then the activation (Gowal et al. 2018, eqs. (5)-(6)); CROWN sees two
nodes, the affine part and the activation. Channels must be last."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import keras

from kerobust.bounds.lipschitz.activations import activation_name
from kerobust.bounds.linear.boxes import activate, affine_box, affine_map
from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.bounds.linear.graph_nodes import AffineNode, Node, named_activation_node
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class LinearLayerRule(LayerRule):
    """The interval and linear families of a layer with a kernel and an activation."""

    foldable = True  # a batch norm next to it can be folded into its kernel (`bounds.folding`)

    def check(self, layer: keras.layers.Layer, family: str) -> str | None:
        return "channels first" if family in ("interval", "linear") and not channels_last(layer) else None

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return activate(activation_name(layer.activation), *affine_box(layer, *boxes[0]))

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        name = activation_name(layer.activation)
        pre = output if name == "linear" else output + ":pre"
        graph.shapes[pre] = graph.shapes[output]
        affine = AffineNode(pre, inputs, layer, function=lambda t: affine_map(layer, t),
                            interval_rule=lambda boxes: affine_box(layer, *boxes[0]),
                            input_shape=graph.shapes[inputs[0]])
        if name == "linear":
            return [affine]
        return [affine, named_activation_node(output, (pre,), layer, name, graph.lower_slope)]
