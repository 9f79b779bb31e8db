"""BatchNormalization at inference, y = g (x - E) + beta: max |g| (sound; folded into a neighbouring kernel where it
can be, `bounds.folding`), Peck's (2017) Theorem 5.6 (thesis, unsound: docs/bounds.md section 8, E6), the diagonal
affine box and node (IBP, CROWN), and max |g| with the moving variance (trainable). Channels must be last."""

import keras
from keras import ops

from kerobust.bounds.lipschitz.batch_norm import batch_norm_lipschitz, scale_of, thesis_batch_norm
from kerobust.bounds.linear.boxes import batch_norm_box
from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.bounds.linear.graph_nodes import AffineNode
from kerobust.bounds.rules.base import LayerRule


class BatchNormalizationRule(LayerRule):
    types = (keras.layers.BatchNormalization,)
    label = "BatchNormalization"

    def check(self, layer, family):
        return "channels first" if family != "thesis" and not channels_last(layer) else None

    def lipschitz(self, layer, kernel=None):
        return batch_norm_lipschitz(layer)

    def thesis_step(self, layer):
        return layer, layer.output

    def thesis_bound(self, kappa, payload, tensor):
        return thesis_batch_norm(kappa, tensor, payload)

    def interval(self, layer, boxes):
        return batch_norm_box(layer, *boxes[0])

    def linear_nodes(self, layer, inputs, output, graph):
        return [AffineNode(output, inputs, layer, function=lambda t: layer(t, training=False),
                           interval_rule=lambda boxes: self.interval(layer, boxes),
                           input_shape=graph.shapes[inputs[0]])]

    def trainable_lipschitz(self, layer, vector, iterations):
        return ops.max(ops.abs(scale_of(layer)))
