"""Operator norms of CNN layers: exact l1 / l-inf of Conv2D (any stride, padding, dilation), Dense and batch norm, the
l2 upper bound of Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", the exact
spectrum of stride-1 circular convolutions by FFT, and power iteration on any layer's linear part."""

from kerobust.norms.circular_spectrum import circular_l2_norm, circular_singular_values
from kerobust.norms.layer_norm import kernel_norm, linear_layers
from kerobust.norms.model_report import LayerNorms, layer_norms, products
from kerobust.norms.operator_norms import (
    batch_norm_scale, conv_l1_norm, conv_l2_upper_bound, conv_linf_norm, dense_l1_norm, dense_linf_norm,
)
from kerobust.norms.power_iteration import linear_part, power_iteration

__all__ = [
    "LayerNorms", "batch_norm_scale", "layer_norms", "products", "circular_l2_norm", "circular_singular_values",
    "conv_l1_norm", "conv_l2_upper_bound", "conv_linf_norm", "dense_l1_norm", "dense_linf_norm", "kernel_norm",
    "linear_layers", "linear_part", "power_iteration",
]
