"""L_p pooling: each output is the p-norm of its window, z = (sum_window |x|^p)^(1/p).

Reference: seed 003 section 2.4 (Peck 2017, eq. 2.7 and Lemma A.6; Sermanet et al. 2012 use it for digit
recognition). p = 1 sums absolute values, p = 2 is the Euclidean norm of the window, p -> inf tends to max pooling of
|x|. Keras has no such layer.
"""

import keras
from keras import ops

from kerobust.layers.conv_geometry import PADDINGS, output_size, padding_amounts


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(f"LpPooling2D {name} must be a positive integer or a pair of them, got {value!r}.")
    return tuple(int(v) for v in pair)


@keras.saving.register_keras_serializable(package="kerobust")
class LpPooling2D(keras.layers.Layer):
    """2-D L_p pooling over (height, width) windows, channels last.

    Args:
        p: the norm's exponent, > 0 (the sound bound needs p >= 1, where it is a norm).
        pool_size: int or (qh, qw).
        strides: int or (sh, sw); defaults to `pool_size`.
        padding: "valid" or "same" (zeros, which do not change a p-norm).
        epsilon: added to the sum of |x|^p before the 1/p power, so the gradient at an all-zero window is finite;
            the layer stays 1-Lipschitz from each window's p-norm for p >= 1.
    """

    def __init__(self, p=2.0, pool_size=2, strides=None, padding="valid", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if not p > 0:
            raise ValueError(f"LpPooling2D needs p > 0, got {p!r}.")
        if padding not in PADDINGS:
            raise ValueError(f"LpPooling2D padding must be one of {PADDINGS}, got {padding!r}.")
        self.p = float(p)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(pool_size if strides is None else strides, "strides")
        self.padding = padding
        self.epsilon = float(epsilon)

    def call(self, inputs):
        if self.padding == "same":
            pads = [padding_amounts(n, q, s, "same") for n, q, s in zip(inputs.shape[1:3], self.pool_size, self.strides)]
            inputs = ops.pad(inputs, ((0, 0), *pads, (0, 0)))
        powered = ops.power(ops.abs(inputs), self.p)
        window = self.pool_size[0] * self.pool_size[1]
        sums = ops.average_pool(powered, self.pool_size, self.strides, padding="valid") * window
        return ops.power(sums + self.epsilon, 1.0 / self.p)

    def compute_output_shape(self, input_shape):
        sizes = [
            None if n is None else output_size(n, q, s, self.padding)
            for n, q, s in zip(input_shape[1:3], self.pool_size, self.strides)
        ]
        return (input_shape[0], *sizes, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(p=self.p, pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      epsilon=self.epsilon)
        return config
