"""The bound rules of every supported layer type, in one registry: `RULES.rule_for(layer, family)`.

Adding a layer type is one file in this folder (a `LayerRule` subclass implementing the families it supports; see
`base.py` and docs/design.md) and one line in `RULES` below. A layer without a rule is refused by name, with the list
of supported layers, by `Registry.rule_for`.
"""

from __future__ import annotations

from typing import Sequence

import keras

from kerobust.bounds.rules.activation import ActivationRule
from kerobust.bounds.rules.base import FAMILY_NAMES, LayerRule, Registry, refuse_randomised
from kerobust.bounds.rules.batch_norm import BatchNormalizationRule
from kerobust.bounds.rules.conv_norm import ConvNormRule
from kerobust.bounds.rules.convolution import Conv2DRule
from kerobust.bounds.rules.dense import DenseRule
from kerobust.bounds.rules.depthwise_convolution import DepthwiseConv2DRule
from kerobust.bounds.rules.identity import IdentityRule
from kerobust.bounds.rules.local_response_norm import LocalResponseNormalizationRule
from kerobust.bounds.rules.merge import AddRule, ConcatenateRule
from kerobust.bounds.rules.pooling import AveragePoolingRule, LpPoolingRule, MaxPoolingRule
from kerobust.bounds.rules.scaling import ScalingRule
from kerobust.bounds.rules.upsampling import UpSampling2DRule
from kerobust.types import Array, Tensor

RULES = Registry([
    DenseRule(),
    Conv2DRule(),
    DepthwiseConv2DRule(),
    ConvNormRule(),
    BatchNormalizationRule(),
    MaxPoolingRule(),
    AveragePoolingRule(),
    LpPoolingRule(),
    LocalResponseNormalizationRule(),
    ActivationRule(),
    ScalingRule(),
    IdentityRule(),
    AddRule(),
    ConcatenateRule(),
    UpSampling2DRule(),
])


def layer_lipschitz(layer: keras.layers.Layer, kernel: Array | None = None) -> float:
    """An upper bound on the layer's l2 Lipschitz constant (sound mode), activation included; `kernel` replaces a
    linear layer's own (a batch norm folded in, `bounds.folding`)."""
    return RULES.rule_for(layer, "sound").lipschitz(layer, kernel)


def propagate(layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """`(centre, radius)` of `layer`'s output box from the `(centre, radius)` of each of its inputs (IBP)."""
    rule = RULES.rule_for(layer, "interval")
    if not rule.merges and len(boxes) != 1:
        raise RULES.no_rule(layer, "interval")
    return rule.interval(layer, boxes)


__all__ = ["FAMILY_NAMES", "RULES", "LayerRule", "Registry", "layer_lipschitz", "propagate", "refuse_randomised"]
