"""CIFAR-NIN, the CIFAR-10 network of Peck (2017), "Robustness of Classifiers to Adversarial Perturbations"
(section 5.1.2): Network in Network.

The thesis calls it "Caffe's built-in network for CIFAR-10" and also describes it as a Network-in-Network with
mlpconv layers. Caffe's bundled CIFAR-10 examples (`cifar10_quick`, `cifar10_full`) have no mlpconv layers, so the
description cannot be both; kerobust follows the architecture the thesis describes and names, Lin et al.'s CIFAR-10
NIN (the Caffe model-zoo network): three mlpconv blocks (a spatial convolution followed by two 1x1 convolutions, all
with ReLU), max / average pooling and dropout between blocks, and global average pooling over the last block's
class maps instead of dense layers. `width` (192 in the paper) can be lowered for CPU work.

Reference: Lin, Chen & Yan 2014, "Network In Network", section 3 and the CIFAR-10 model of section 4.2.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.errors import KerobustError
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike


def _mlpconv(x, widths, kernel, name):
    for index, (filters, size) in enumerate(zip(widths, (kernel, 1, 1)), start=1):
        x = keras.layers.Conv2D(filters, size, padding="same", activation="relu", name=f"{name}_conv{index}")(x)
    return x


@register("cifar_nin")
def cifar_nin(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, width: int = 192,
              dropout: float = 0.5, input_noise: float = 0.0) -> keras.Model:
    """Network in Network for CIFAR-10 (Peck (2017)'s CIFAR-NIN). Works from 4x4 inputs.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        width: channels of the mlpconv layers (192; the first block's 1x1 layers use 160 / 96 scaled alike).
        dropout: dropout after the first two blocks (0.5 in the paper).
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    require_input_size("cifar_nin", input_shape, 4, "pools twice")
    if int(width) != width or width < 1:
        raise KerobustError(f"cifar_nin width must be a positive integer, got {width!r}.")
    if not 0.0 <= dropout < 1.0:
        raise KerobustError(f"dropout must be in [0, 1), got {dropout!r}.")
    scale = width / 192
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = _mlpconv(x, (width, max(1, round(160 * scale)), max(1, round(96 * scale))), 5, "block1")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="block1_pool")(x)
    x = keras.layers.Dropout(dropout, name="block1_dropout")(x)
    x = _mlpconv(x, (width, width, width), 5, "block2")
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="block2_pool")(x)
    x = keras.layers.Dropout(dropout, name="block2_dropout")(x)
    x = _mlpconv(x, (width, width, num_classes), 3, "block3")
    outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, outputs, name="cifar_nin")
