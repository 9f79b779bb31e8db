"""L_p pooling: each output is the p-norm of its window, z = (sum_window |x|^p)^(1/p).

Reference: Peck (2017), "Robustness of Classifiers to Adversarial Perturbations", section 2.4, eq. 2.7 and Lemma A.6
(Sermanet et al. 2012 use it for digit recognition). p = 1 sums absolute values, p = 2 is the Euclidean norm of the
window, p -> inf tends to max pooling of |x|. Keras has no such layer.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from kerobust.layers.conv_geometry import PADDINGS, output_size, padding_amounts
from kerobust.types import Tensor


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

    Each window is divided by its largest magnitude before the power (no overflow of |x|^p for large p or x); an
    all-zero window gives 0 with gradient 0, as do zero entries for p < 1.
    """

    def __init__(self, p: float = 2.0, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str = "valid", **kwargs: Any):
        super().__init__(**kwargs)
        if not 0 < p < float("inf"):
            raise ValueError(f"LpPooling2D needs a finite p > 0, got {p!r}.")
        if padding not in PADDINGS:
            raise ValueError(f"LpPooling2D padding must be one of {PADDINGS}, got {padding!r}.")
        self.p = float(p)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(pool_size if strides is None else strides, "strides")
        self.padding = padding

    def call(self, inputs: Tensor) -> Tensor:
        if self.padding == "same":
            pads = [padding_amounts(n, q, s, "same")
                    for n, q, s in zip(inputs.shape[1:3], self.pool_size, self.strides)]
            inputs = ops.pad(inputs, ((0, 0), *pads, (0, 0)))
        (qh, qw), (sh, sw) = self.pool_size, self.strides
        out_h, out_w = (inputs.shape[1] - qh) // sh + 1, (inputs.shape[2] - qw) // sw + 1
        taps = ops.stack([  # (qh qw, N, out_h, out_w, C): tap (a, b) of every window
            ops.abs(inputs[:, a:a + (out_h - 1) * sh + 1:sh, b:b + (out_w - 1) * sw + 1:sw, :])
            for a in range(qh) for b in range(qw)
        ])
        largest = ops.stop_gradient(ops.max(taps, axis=0))
        scaled = taps / ops.where(largest > 0, largest, 1.0)
        safe = ops.where(scaled > 0, scaled, 1.0)  # keeps the gradient of 0 ** p finite (and zero) for p < 1
        sums = ops.sum(ops.where(scaled > 0, ops.power(safe, self.p), 0.0), axis=0)
        return largest * ops.power(ops.where(sums > 0, sums, 1.0), 1.0 / self.p) * ops.cast(sums > 0, sums.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        sizes = [
            None if n is None else output_size(n, q, s, self.padding)
            for n, q, s in zip(input_shape[1:3], self.pool_size, self.strides)
        ]
        return (input_shape[0], *sizes, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(p=self.p, pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return config
