"""Layers that are the identity at inference, or an isometric reshaping (Flatten, Reshape, Dropout and other noise
that is off at inference, ZeroPadding2D): Lipschitz constant 1, kappa unchanged, the box mapped as it is, an affine
node (docs/bounds.md section 2.7)."""

from kerobust.bounds.linear.graph_nodes import AffineNode
from kerobust.bounds.lipschitz.pass_through import IDENTITY_LAYERS
from kerobust.bounds.rules.base import LayerRule


class IdentityRule(LayerRule):
    types = IDENTITY_LAYERS
    label = "Flatten, Reshape, Dropout, ZeroPadding2D and other inference-time identities"

    def lipschitz(self, layer, kernel=None):
        return 1.0

    def thesis_step(self, layer):
        return None, layer.input

    def thesis_bound(self, kappa, payload, tensor):
        return kappa

    def interval(self, layer, boxes):
        centre, radius = boxes[0]
        return layer(centre, training=False), layer(radius, training=False)

    def linear_nodes(self, layer, inputs, output, graph):
        return [AffineNode(output, inputs, layer, function=lambda t: layer(t, training=False),
                           interval_rule=lambda boxes: self.interval(layer, boxes),
                           input_shape=graph.shapes[inputs[0]])]
