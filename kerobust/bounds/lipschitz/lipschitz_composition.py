"""The global l2 Lipschitz constant of input -> tensor, composed forward over a Keras graph from one constant per layer.

Reference: Szegedy et al. 2014 section 4.3 and Tsuzuku et al. 2018 section 3: for f = f_n o ... o f_1, Lip(f) <=
prod_i Lip(f_i); a residual sum a + b has Lip <= Lip(a) + Lip(b), and a concatenation [a, b] has
Lip <= sqrt(Lip(a)^2 + Lip(b)^2). Used by the sound mode (`BoundEvaluator`, exact constants) and by
Lipschitz-margin training (`TrainableLipschitz`, differentiable estimates of the same constants).
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras

from kerobust.bounds.lipschitz.folding import inputs_of
from kerobust.bounds.rules import RULES
from kerobust.errors import KerobustError
from kerobust.types import Tensor


def compose_lipschitz(
    layers: Sequence[keras.layers.Layer], inputs: Sequence[keras.KerasTensor], target: keras.KerasTensor,
    layer_constant: Callable[[keras.layers.Layer], float | Tensor],
) -> float | Tensor:
    """An upper bound on the Lipschitz constant of the map from the graph's `inputs` to the tensor `target`.

    Args:
        layers: the layers between them, in graph order (each reads tensors computed before it).
        inputs, target: symbolic tensors of the graph.
        layer_constant: `layer -> constant` (a float or a scalar tensor) for every single-input layer.
    """
    constants = {id(t): 1.0 for t in inputs}
    for layer in layers:
        values = [constants.get(id(t)) for t in inputs_of(layer)]
        if any(c is None for c in values):
            raise KerobustError(f"layer {layer.name!r} reads a tensor that is not computed from the model input.")
        rule = RULES.find(layer)
        if rule is not None and rule.merges:
            value = rule.merge_lipschitz(values)
        elif len(values) == 1:
            value = layer_constant(layer) * values[0]  # type: ignore[operator]  # None raised above
        else:
            raise RULES.no_rule(layer, "sound")
        constants[id(layer.output)] = value
    return constants[id(target)]
