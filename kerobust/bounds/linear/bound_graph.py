"""A Keras classifier as the graph that IBP and CROWN bound: each layer's nodes (`graph_nodes`, where the interval
and linear-relaxation rules and their references are) come from its rule in the registry (`kerobust.bounds.rules`).

Dense and convolution layers with an activation become two nodes, the affine part and the activation. A Sequential
model is walked as a chain, so it needs no copy (the bound of a model being trained must read that model's own
weights).
"""

from __future__ import annotations

import keras

from kerobust.bounds.lipschitz.evaluator import decision_head
from kerobust.bounds.lipschitz.folding import inputs_of
from kerobust.bounds.linear.graph_nodes import LOWER_SLOPES, AffineNode
from kerobust.bounds.rules import RULES
from kerobust.errors import KerobustError


class BoundGraph:
    """The nodes of `model` in evaluation order, its input key and the key and Dense head of the margin.

    Args:
        model: a functional or Sequential classifier (logits, or a softmax after them; nested models are not walked).
        lower_slope: CROWN's lower line of an unstable ReLU: "adaptive" (slope 1 if u > -l else 0), "zero", "one".
    """

    def __init__(self, model: keras.Model, lower_slope: str = "adaptive"):
        if lower_slope not in LOWER_SLOPES:
            raise KerobustError(f"lower slope must be one of {', '.join(LOWER_SLOPES)}, got {lower_slope!r}.")
        if len(model.inputs) != 1:
            raise KerobustError(f"model {model.name!r} has {len(model.inputs)} inputs; bounds need one.")
        head, layers = decision_head(model)
        self.head = head.layer
        self.lower_slope = lower_slope
        self.input_key = "input"
        self.shapes = {"input": tuple(model.inputs[0].shape[1:])}
        chain = isinstance(model, keras.Sequential)
        keys = {id(model.inputs[0]): "input"}
        self.nodes = []
        previous = "input"
        for index, layer in enumerate(layers):
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if chain:
                inputs: tuple[str | None, ...] = (previous,)
            else:
                found = [keys.get(id(t)) for t in inputs_of(layer)]
                if any(k is None for k in found):
                    raise KerobustError(f"layer {layer.name!r} reads a tensor that is not computed from the model "
                                        "input.")
                inputs = tuple(found)
            output = f"{index}:{layer.name}"
            keys[id(layer.output)] = output
            self.shapes[output] = tuple(layer.output.shape[1:])
            self.nodes.extend(self._nodes_of(layer, inputs, output, lower_slope))
            previous = output
        self.features_key = previous if chain else keys[id(head.features)]
        self.relaxed_inputs = {node.inputs[0] for node in self.nodes if node.relaxed}

    def _nodes_of(self, layer, inputs, output, lower_slope):
        rule = RULES.rule_for(layer, "linear")
        if not rule.merges and len(inputs) != 1:
            raise RULES.no_rule(layer, "linear")
        return rule.linear_nodes(layer, inputs, output, self)

    def without_interval_rule(self) -> AffineNode | None:
        """The first node IBP cannot bound, or None."""
        return next((node for node in self.nodes if isinstance(node, AffineNode) and node.interval_rule is None), None)
