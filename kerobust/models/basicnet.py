"""A small plain CNN, the "Basic Net" of Bigaud, Papereux & Rolland (2021), "Adversarial training for image
classification" (the BIPARO report), section 2.1.

The BIPARO report does not give its layers; kerobust uses the classic adversarial-training CNN of Madry et al. 2018
(two 3x3 conv pairs of 32 and 64 channels, each pair followed by 2x2 max pooling, then a 256-unit dense layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.errors import KerobustError
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike


@register("basicnet")
def basicnet(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, width: int = 32,
             dropout: float = 0.0, input_noise: float = 0.0) -> keras.Model:
    """Builds the Basic Net.

    Args:
        input_shape: (H, W, C) of [0, 1] images, at least 4x4.
        num_classes: number of output logits.
        mean, std: per-channel statistics for the input normalisation layer.
        width: channels of the first conv pair (the second has twice as many).
        dropout: dropout rate before the last layer.
        input_noise: Gaussian noise (pixels) on the input, also at inference (the BIPARO report, section 3.2.1).

    Returns:
        A functional `keras.Model` that outputs logits.
    """
    require_input_size("basicnet", input_shape, 4, "pools twice")
    if int(width) != width or width < 1:
        raise KerobustError(f"basicnet width must be a positive integer, got {width!r}.")
    inputs, x = image_input(input_shape, mean, std, input_noise)
    for stage, filters in enumerate((width, 2 * width), start=1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage}_{conv}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, activation="relu", name="dense")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="basicnet")
