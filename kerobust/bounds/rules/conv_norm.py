"""ConvNorm (Liu et al. 2021, "Convolutional Normalization"): a fixed linear operator at inference, bounded by its
preconditioned norm (sound) and relaxed by CROWN as an affine node; IBP would need |A| of the operator, which is not
formed, so it has no interval rule (CROWN bounds the tensor itself)."""

from kerobust.bounds.lipschitz.conv_norm import conv_norm_lipschitz
from kerobust.bounds.linear.graph_nodes import AffineNode
from kerobust.bounds.rules.base import LayerRule
from kerobust.layers import ConvNorm


class ConvNormRule(LayerRule):
    types = (ConvNorm,)
    label = "ConvNorm"

    def lipschitz(self, layer, kernel=None):
        return conv_norm_lipschitz(layer)

    def linear_nodes(self, layer, inputs, output, graph):
        return [AffineNode(output, inputs, layer, function=lambda t: layer(t, training=False),
                           input_shape=graph.shapes[inputs[0]])]
