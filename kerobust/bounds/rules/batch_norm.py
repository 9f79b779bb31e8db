"""BatchNormalization at inference, y = g (x - E) + beta: max |g| (sound; folded into a neighbouring kernel where it
can be, `bounds.folding`), Peck's (2017) Theorem 5.6 (thesis, unsound: docs/bounds.md section 8, E6), the diagonal
affine box and node (IBP, CROWN), and max |g| with the moving variance (trainable). Channels must be last."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras
from keras import ops

from kerobust.bounds.lipschitz.batch_norm import batch_norm_lipschitz, scale_of, thesis_batch_norm
from kerobust.bounds.linear.boxes import batch_norm_box
from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.bounds.linear.graph_nodes import Node
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class BatchNormalizationRule(LayerRule):
    types = (keras.layers.BatchNormalization,)
    label = "BatchNormalization"

    def check(self, layer: keras.layers.Layer, family: str) -> str | None:
        return "channels first" if family != "thesis" and not channels_last(layer) else None

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return batch_norm_lipschitz(layer)

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[keras.layers.Layer, keras.KerasTensor]:
        return layer, layer.output

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return thesis_batch_norm(kappa, tensor, payload)

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return batch_norm_box(layer, *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return self.whole_layer_node(layer, inputs, output, graph)

    def trainable_lipschitz(self, layer: keras.layers.Layer, vector: keras.Variable | None, iterations: int) -> Tensor:
        return ops.max(ops.abs(scale_of(layer)))
