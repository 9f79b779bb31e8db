"""RegNetX-200MF in its CIFAR form, one of the four architectures of Liang & Huang (2021), "Large Norms of CNN
Layers Do Not Hurt Adversarial Robustness".

Reference: Radosavovic et al. 2020, "Designing Network Design Spaces", RegNetX-200MF (depths 1, 1, 4, 7; widths 24,
56, 152, 368; group width 8; bottleneck ratio 1; X block: 1x1 - grouped 3x3 - 1x1 with residual); CIFAR form with a
3x3 64-channel stem and strides 1, 1, 2, 2 as in kuangliu/pytorch-cifar.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.models.conv_factory import ConvFactory
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.models.resnet import projection_shortcut
from kerobust.types import ArrayLike

DEPTHS, WIDTHS, STRIDES, GROUP_WIDTH = (1, 1, 4, 7), (24, 56, 152, 368), (1, 1, 2, 2), 8


def _x_block(x, layers, filters, stride, name):
    groups = filters // GROUP_WIDTH
    y = keras.layers.ReLU(name=f"{name}_relu1")(layers.conv_bn(x, filters, 1, name=f"{name}_conv1"))
    y = keras.layers.ReLU(name=f"{name}_relu2")(
        layers.conv_bn(y, filters, 3, stride, name=f"{name}_conv2", groups=groups))
    y = layers.conv_bn(y, filters, 1, name=f"{name}_conv3")
    skip = projection_shortcut(x, layers, filters, stride, name)
    return keras.layers.ReLU(name=f"{name}_relu3")(keras.layers.Add(name=f"{name}_add")([skip, y]))


@register("regnetx_200mf")
def regnetx_200mf(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, norm: str = "bn",
                  input_noise: float = 0.0) -> keras.Model:
    """RegNetX-200MF: 3x3 stem (conv - BN - ReLU), four stages of X blocks with grouped 3x3 convolutions, global
    average pooling, dense layer. Works from 4x4 inputs.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        norm: "none" or "bn" (ConvNorm has no grouped form).
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    require_input_size("regnetx_200mf", input_shape, 4)
    layers = ConvFactory(norm, allowed=("none", "bn"))
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = keras.layers.ReLU(name="stem_relu")(layers.conv_bn(x, 64, 3, name="stem_conv"))
    for stage, (depth, width, stride) in enumerate(zip(DEPTHS, WIDTHS, STRIDES), start=1):
        for block in range(depth):
            x = _x_block(x, layers, width, stride if block == 0 else 1, f"stage{stage}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"regnetx_200mf-{layers.tag}")
