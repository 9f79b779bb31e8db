"""kerobust's Keras layers: ConvNorm, local response normalisation, L_p pooling, noise injection, grouped
convolution."""

from kerobust.layers.conv_norm import ConvNorm
from kerobust.layers.grouped_conv import GroupedConv2D
from kerobust.layers.local_response_normalization import LocalResponseNormalization
from kerobust.layers.lp_pooling import LpPooling2D
from kerobust.layers.noise_injection import GaussianNoiseInjection, NoisyConv2D, NoisyDense

__all__ = ["ConvNorm", "GroupedConv2D", "GaussianNoiseInjection", "LocalResponseNormalization", "LpPooling2D",
           "NoisyConv2D", "NoisyDense"]
