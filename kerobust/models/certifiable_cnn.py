"""The small CNN of certified training: Gowal et al. 2018's "small" model (IBP), also CROWN-IBP's starting point.

Reference: Gowal et al. 2018, Table 1: conv 16 4x4 stride 2 - conv 32 4x4 stride 1 - dense 100 - dense 10, ReLUs,
no batch norm or pooling (each layer makes the interval boxes grow, so certified training favours shallow, wide
networks). `width` scales the channels and the dense layer (1: the paper's model). The convolutions pad (`same`), so
8x8 digits keep 4x4 maps (the paper's valid convolutions would leave 1x1 of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.errors import KerobustError
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike


@register("certcnn")
def certcnn(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, width: int = 1,
            input_noise: float = 0.0) -> keras.Model:
    """Builds Gowal et al.'s small CNN, `width` times as wide."""
    require_input_size("certcnn", input_shape, 4, "strides by 2")
    if int(width) != width or width < 1:
        raise KerobustError(f"certcnn width must be a positive integer, got {width!r}.")
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = keras.layers.Conv2D(16 * width, 4, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(32 * width, 4, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(100 * width, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="certcnn")
