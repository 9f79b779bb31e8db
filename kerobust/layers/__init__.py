"""kerobust's Keras layers: ConvNorm, local response normalisation and noise injection."""

from kerobust.layers.conv_norm import ConvNorm
from kerobust.layers.local_response_normalization import LocalResponseNormalization
from kerobust.layers.noise_injection import GaussianNoiseInjection, NoisyConv2D, NoisyDense

__all__ = ["ConvNorm", "GaussianNoiseInjection", "LocalResponseNormalization", "NoisyConv2D", "NoisyDense"]
