"""kerobust's Keras layers: ConvNorm, local response normalisation, noise injection, grouped convolution."""

from kerobust.layers.conv_norm import ConvNorm
from kerobust.layers.grouped_conv import GroupedConv2D
from kerobust.layers.local_response_normalization import LocalResponseNormalization
from kerobust.layers.noise_injection import GaussianNoiseInjection, NoisyConv2D, NoisyDense

__all__ = ["ConvNorm", "GroupedConv2D", "GaussianNoiseInjection", "LocalResponseNormalization", "NoisyConv2D", "NoisyDense"]
