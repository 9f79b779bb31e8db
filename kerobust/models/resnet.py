"""CIFAR ResNets: ResNet-20 (He et al. 2016), ResNet-18 (the CIFAR variant of kuangliu/pytorch-cifar), and
NoiseNet-20, ResNet-20 with parametric noise injection on every weight layer (Rakin et al. 2018).

References: He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2 (6n + 2 layers, widths 16,
32, 64, option A identity shortcuts: subsample and zero-pad channels); ResNet-18: He et al. 2016 Table 1 with a 3x3
stem and no max pooling (the CIFAR form trained in section 4 of Liang & Huang (2021), "Large Norms of CNN Layers Do
Not Hurt Adversarial Robustness"); NoiseNet-20: Bigaud, Papereux & Rolland (2021), "Adversarial training for image
classification" (the BIPARO report), section 3.2.2.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.errors import KerobustError
from kerobust.models.conv_factory import ConvFactory
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike, Tensor


def _option_a_shortcut(x, filters, stride, name):
    """Identity shortcut of He et al. option A: subsample by the stride and append zero channels (no parameters)."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    if filters != 2 * x.shape[-1]:
        raise KerobustError(f"option A shortcuts double the channels, cannot go from {x.shape[-1]} to {filters}.")
    y = keras.layers.AveragePooling2D(1, strides=stride, name=f"{name}_subsample")(x)
    zeros = keras.layers.Rescaling(0.0, name=f"{name}_zeros")(y)
    return keras.layers.Concatenate(name=f"{name}_pad")([y, zeros])


def projection_shortcut(x: Tensor, layers: ConvFactory, filters: int, stride: int, name: str) -> Tensor:
    """Option B: a 1x1 convolution (and batch norm) when the shape changes."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    return layers.conv_bn(x, filters, 1, stride, name=f"{name}_shortcut")


def _basic_block(x, layers, filters, stride, shortcut, name):
    """conv3x3 - BN - ReLU - conv3x3 - BN, plus shortcut, then ReLU (post-activation, He et al. 2016 Fig. 2)."""
    if shortcut == "A":
        skip = _option_a_shortcut(x, filters, stride, name)
    else:
        skip = projection_shortcut(x, layers, filters, stride, name)
    y = keras.layers.ReLU(name=f"{name}_relu1")(layers.conv_bn(x, filters, 3, stride, name=f"{name}_conv1"))
    y = layers.conv_bn(y, filters, 3, 1, name=f"{name}_conv2")
    return keras.layers.ReLU(name=f"{name}_relu2")(keras.layers.Add(name=f"{name}_add")([skip, y]))


def _resnet(input_shape, mean, std, input_noise, layers, num_classes, arch, depth, width=64):
    """ResNet-20 (`depth=20`: widths 16-64, option A shortcuts) or ResNet-18 (`depth=18`: widths `width` to 8
    `width`, 1x1 projection shortcuts), conv - BN - ReLU stem, global average pooling, dense logits."""
    if depth == 20:
        widths, blocks, strides, shortcut, minimum = (16, 32, 64), (3, 3, 3), (1, 2, 2), "A", 4
    else:
        if int(width) != width or width < 1:
            raise KerobustError(f"{arch} width must be a positive integer, got {width!r}.")
        widths = (int(width), 2 * int(width), 4 * int(width), 8 * int(width))
        blocks, strides, shortcut, minimum = (2, 2, 2, 2), (1, 2, 2, 2), "B", 8
    require_input_size(arch, input_shape, minimum)
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = keras.layers.ReLU(name="stem_relu")(layers.conv_bn(x, widths[0], 3, 1, name="stem_conv"))
    for stage, (width, count, stride) in enumerate(zip(widths, blocks, strides), start=1):
        for block in range(count):
            x = _basic_block(x, layers, width, stride if block == 0 else 1, shortcut, f"stage{stage}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{arch}-{layers.tag}")


@register("resnet20")
def resnet20(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, norm: str = "bn",
             input_noise: float = 0.0) -> keras.Model:
    """ResNet-20 for CIFAR (0.27M parameters): 3 stages of 3 basic blocks, widths 16/32/64, option A shortcuts.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        norm: "none", "bn", "convnorm" or "bn+convnorm".
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    return _resnet(input_shape, mean, std, input_noise, ConvFactory(norm), num_classes, "resnet20", 20)


@register("resnet18")
def resnet18(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, norm: str = "bn",
             width: int = 64, input_noise: float = 0.0) -> keras.Model:
    """ResNet-18, CIFAR form (11.2M parameters at width 64): 3x3 stem, 4 stages of 2 basic blocks, widths 64-512, 1x1
    projection shortcuts. Works from 8x8 inputs (three stride-2 stages). The BIPARO report calls it a wide ResNet-18 and
    widens it further (width 80, 17.5M parameters, for its 17M-parameter network of Table 6).

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        norm: "none", "bn", "convnorm" or "bn+convnorm".
        width: channels of the stem and the first stage; stage s has 2^(s-1) times as many.
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    return _resnet(input_shape, mean, std, input_noise, ConvFactory(norm), num_classes, "resnet18", 18, width)


@register("noisenet20")
def noisenet20(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
               noise: str = "channelwise", input_noise: float = 0.0) -> keras.Model:
    """NoiseNet-20: ResNet-20 (batch norm) whose convolutions and dense layer carry trainable weight noise.

    Train it with `--train-method pni` (the paper's recipe). Its noise stays on at test time, so plain attacks
    (one noise draw per model call) overstate its robustness; attack it with expectation over transformation.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        noise: granularity of the noise scale: "layerwise", "channelwise" (the reference's best, default) or
            "elementwise".
        input_noise: Gaussian noise (pixels) on the input, also at inference.

    Reference: Rakin et al. 2018, section 3 (PNI-W on every layer); the BIPARO report, section 3.2.2.
    """
    return _resnet(input_shape, mean, std, input_noise, ConvFactory("bn", noise=noise), num_classes, "noisenet20", 20)
