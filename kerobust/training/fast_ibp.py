"""Fast IBP training: the IBP initialisation and the warm-up regularisers of Shi, Wang, Zhang, Yi & Hsieh 2021,
"Fast Certified Robust Training with Short Warmup" (section 3).

* IBP initialisation: every kernel but the logits layer's is drawn from N(0, sigma^2) with sigma = sqrt(2 pi) / n,
  n its fan-in, so that E[sum_j |W_ij|] = n sigma sqrt(2 / pi) = 2: an interval's radius keeps its size through an
  affine layer and the ReLU after it (which halves it on average) instead of growing with the width, as under the
  usual initialisations, whose bounds explode at the start of the eps ramp.
* Warm-up regularisers on the pre-activation boxes of every ReLU, with tolerance tau (0.5):
  L_tightness = relu(tau - r_0 / r_l) / tau, r_0 the input box's mean radius and r_l the layer's (bounds that grow
  faster than the input's are penalised), and L_relu = (relu(tau - rho_mean) + relu(tau - rho_var)) / tau, where
  rho_mean and rho_var are the ratios, folded into (0, 1], of the mean centre and of the spread of the centres over
  the active (l > 0) and the inactive (u < 0) neurons (balanced ReLU states). Both are averaged over the ReLU layers
  and weigh lambda (1 - eps_t / eps) in the loss: they fade as eps reaches its value. lambda 0.5 in their MNIST and
  CIFAR-10 runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import keras
import numpy as np
from keras import ops

from kerobust.bounds.linear.bound_graph import BoundGraph
from kerobust.bounds.linear.graph_nodes import ActivationNode
from kerobust.layers.noise_injection import all_layers
from kerobust.types import Tensor

TOLERANCE = 0.5  # tau
_TINY = 1e-12


def ibp_initialize(classifier: keras.Model, seed: int = 0) -> list[str]:
    """Redraws the kernel of every Dense and Conv2D layer of `classifier` except its last (the logits) from
    N(0, 2 pi / n^2), n the kernel's fan-in; biases stay. Returns the names of the layers redrawn."""
    rng = np.random.default_rng(seed)
    layers = [layer for layer in all_layers(classifier)
              if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))]
    for layer in layers[:-1]:
        shape = tuple(layer.kernel.shape)
        fan_in = int(np.prod(shape[:-1]))
        layer.kernel.assign(rng.normal(0.0, math.sqrt(2 * math.pi) / fan_in, size=shape).astype(layer.kernel.dtype))
    return [layer.name for layer in layers[:-1]]


def _folded(ratio: Tensor) -> Tensor:
    """min(r, 1 / r): 1 when balanced."""
    return ops.minimum(ratio, 1.0 / ops.maximum(ratio, _TINY))


def warmup_regularizer(graph: BoundGraph, boxes: Mapping[str, tuple[Tensor, Tensor]],
                       tolerance: float = TOLERANCE) -> Tensor:
    """L_tightness + L_relu of Shi et al. 2021 over the ReLUs of `graph`, from IBP's `boxes` ({key: (centre,
    radius)}, as `interval_boxes` gives them); 0 for a graph without ReLUs. A layer without active or without
    inactive neurons adds no L_relu (the authors' code skips the cases where it is not finite, and counts a layer
    without active neurons as the constant 2: the same gradient)."""
    relu_inputs = [node.inputs[0] for node in graph.nodes if isinstance(node, ActivationNode) and node.slope == 0]
    if not relu_inputs:
        return ops.convert_to_tensor(0.0)
    input_radius = ops.mean(boxes[graph.input_key][1])
    tightness, balance = 0.0, 0.0
    for key in relu_inputs:
        centre, radius = boxes[key]
        tightness = tightness + ops.relu(tolerance - input_radius / ops.maximum(ops.mean(radius), _TINY)) / tolerance
        active = ops.cast(centre - radius > 0, centre.dtype)
        inactive = ops.cast(centre + radius < 0, centre.dtype)
        # Ratios only where both states occur (else 1, and the layer adds nothing): no division by 0 in the graph,
        # whose gradient would be NaN even where the value is masked.
        both = ops.logical_and(ops.sum(active) > 0, ops.sum(inactive) > 0)
        spread = ops.square(centre - ops.mean(centre))
        mean_ratio = (ops.where(both, ops.mean(centre * active), 1.0)
                      / ops.where(both, -ops.mean(centre * inactive), 1.0))
        var_ratio = (ops.where(both, ops.sum(spread * active), 1.0)
                     / ops.where(both, ops.maximum(ops.sum(spread * inactive), _TINY), 1.0))
        layer = (ops.relu(tolerance - _folded(mean_ratio)) + ops.relu(tolerance - _folded(var_ratio))) / tolerance
        balance = balance + ops.where(both, layer, 0.0)
    return (tightness + balance) / len(relu_inputs)
