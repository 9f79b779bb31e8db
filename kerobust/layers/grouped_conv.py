"""A grouped `Conv2D` that runs TensorFlow's native grouped convolution (RegNet's 3x3 convolutions).

`keras.layers.Conv2D(groups=g)` is correct on every backend, but on TensorFlow Keras compiles each grouped
convolution with XLA, which on CPU makes a RegNetX training step about 30 times slower. This subclass computes the
same function (tested against the ungrouped, split form) through `kerobust.backend.grouped_conv`; everything else,
including saving, is `Conv2D`'s, and `isinstance(layer, keras.layers.Conv2D)` holds.

Reference: Krizhevsky et al. 2012 (grouped convolutions); Xie et al. 2017, "Aggregated Residual Transformations".
"""

from __future__ import annotations

import keras

from kerobust import backend
from kerobust.types import Tensor


@keras.saving.register_keras_serializable(package="kerobust")
class GroupedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with `groups > 1`, channels last, without the forced XLA path on TensorFlow."""

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format != "channels_last" or self.dilation_rate != (1, 1):
            return super().call(inputs)
        outputs = backend.grouped_conv(inputs, self.kernel, strides=self.strides, padding=self.padding,
                                       bias=self.bias if self.use_bias else None)
        return outputs if self.activation is None else self.activation(outputs)
