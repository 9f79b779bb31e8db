"""Local response normalisation across channels (AlexNet's lateral inhibition).

Reference: Krizhevsky et al. 2012, "ImageNet Classification with Deep Convolutional Neural Networks", section 3.3;
Peck (2017), "Robustness of Classifiers to Adversarial Perturbations", section 4.6:
b_ixy = a_ixy (k + alpha sum_{l = max(0, i - n/2)}^{min(N - 1, i + n/2)} a_lxy^2)^(-beta).
The sum runs over channels i - floor(n/2) .. i + floor(n/2), as in `tf.nn.local_response_normalization` with
`depth_radius = n // 2`. Caffe's LRN layer divides alpha by n; this layer follows the formula (no division).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerobust.types import Tensor


@keras.saving.register_keras_serializable(package="kerobust")
class LocalResponseNormalization(keras.layers.Layer):
    """Normalises each channel by the squared activity of its neighbouring channels at the same position.

    Args:
        k: additive constant (2 in AlexNet).
        n: size of the channel window (5 in AlexNet): n // 2 channels on either side, so n + 1 channels for even n,
            as in the formula and in TensorFlow.
        alpha: scale of the sum (1e-4 in AlexNet).
        beta: exponent (0.75 in AlexNet).

    Reference: Krizhevsky et al. 2012, section 3.3; Peck (2017) section 4.6.
    """

    def __init__(self, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, **kwargs: Any):
        super().__init__(**kwargs)
        if int(n) != n or n < 1:
            raise ValueError(f"LocalResponseNormalization n must be a positive integer, got {n!r}.")
        if k <= 0 or alpha < 0 or beta < 0:
            raise ValueError(f"LocalResponseNormalization needs k > 0, alpha >= 0 and beta >= 0, "
                             f"got {k}, {alpha}, {beta}.")
        self.k = float(k)
        self.n = int(n)
        self.alpha = float(alpha)
        self.beta = float(beta)

    @property
    def radius(self) -> int:
        return self.n // 2

    def call(self, inputs: Tensor) -> Tensor:
        squares = ops.square(inputs)
        channels = inputs.shape[-1]
        padding = [(0, 0)] * (len(inputs.shape) - 1) + [(self.radius, self.radius)]
        padded = ops.pad(squares, padding)
        window = sum(padded[..., offset : offset + channels] for offset in range(2 * self.radius + 1))
        return inputs * ops.power(self.k + self.alpha * window, -self.beta)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(k=self.k, n=self.n, alpha=self.alpha, beta=self.beta)
        return config
