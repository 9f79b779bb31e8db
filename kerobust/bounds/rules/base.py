"""What a layer rule is: one object per kind of layer, implementing the bound families it supports.

Families (the method each one calls):
* `sound`: `lipschitz(layer, kernel)`, an upper bound on the layer's l2 Lipschitz constant (the sound mode of
  `BoundEvaluator`, after Peck 2017, "Robustness of Classifiers to Adversarial Perturbations", docs/bounds.md
  section 8); merge layers answer `merge_lipschitz(constants)` instead;
* `thesis`: `thesis_step(layer)` and `thesis_bound(kappa, payload, tensor)`, Peck's (2017) per-layer rule walked
  backwards (docs/bounds.md section 2);
* `interval`: `interval(layer, boxes)`, interval bound propagation (Gowal et al. 2018, eqs. (5)-(6));
* `linear`: `linear_nodes(layer, inputs, output, graph)`, the nodes of CROWN's backward linear relaxation (Zhang et
  al. 2018, "Efficient Neural Network Robustness Certification with General Activation Functions");
* `trainable`: `power_vector_shape(layer)` and `trainable_lipschitz(layer, vector, iterations)`, the differentiable
  estimate of Lipschitz-margin training (Tsuzuku, Sato & Sugiyama 2018).
A family a rule does not override is one it does not support; `Registry.rule_for` refuses such a layer by name, and
lists the layers that are supported, in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras

from kerobust.bounds.linear.graph_nodes import AffineNode, Node
from kerobust.errors import KerobustError
from kerobust.layers.noise_injection import is_random_at_inference
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports this package
    from kerobust.bounds.linear.bound_graph import BoundGraph

FAMILY_METHODS = {"sound": "lipschitz", "thesis": "thesis_step", "interval": "interval", "linear": "linear_nodes",
                  "trainable": "trainable_lipschitz"}
FAMILY_NAMES = {"sound": "sound-mode bound", "thesis": "thesis-mode bound", "interval": "IBP / CROWN",
                "linear": "IBP / CROWN", "trainable": "differentiable Lipschitz"}


class LayerRule:
    """The bound rules of the layer types `types` (Keras classes; subclasses match too, the most specific wins)."""

    types: tuple[type, ...] = ()
    label: str = ""  # how the list of supported layers names this rule
    merges = False  # a layer of several inputs (sound mode: `merge_lipschitz`)

    def supports(self, family: str) -> bool:
        """Whether this rule implements `family` (overrides its method)."""
        method = "merge_lipschitz" if family == "sound" and self.merges else FAMILY_METHODS[family]
        return getattr(type(self), method) is not getattr(LayerRule, method)

    def check(self, layer: keras.layers.Layer, family: str) -> str | None:
        """Why `layer`'s configuration is outside this rule for `family` (e.g. channels first), else None."""
        return None

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        """An upper bound on the layer's l2 Lipschitz constant, activation included; `kernel` replaces a linear
        layer's own (a batch norm folded in)."""
        raise NotImplementedError

    def merge_lipschitz(self, constants: Sequence[float | Tensor]) -> float | Tensor:
        """The Lipschitz constant of a merge of branches with these constants."""
        raise NotImplementedError

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[Any, keras.KerasTensor]:
        """`(payload, tensor)`: what the thesis rule needs of the layer, and the symbolic tensor it reads."""
        raise NotImplementedError

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        """The bound below the layer from the bound `kappa` above it (Peck 2017, Algorithm 5.1)."""
        raise NotImplementedError

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """`(centre, radius)` of the layer's output box from the `(centre, radius)` of each input."""
        raise NotImplementedError

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        """The `BoundGraph` nodes of the layer (`graph`: its `shapes` and `lower_slope`)."""
        raise NotImplementedError

    def whole_layer_node(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                         graph: BoundGraph) -> list[Node]:
        """`linear_nodes` of a layer that is affine at inference: one node computing the layer itself, whose box is
        this rule's `interval` where the rule has one (otherwise CROWN bounds the tensor by itself)."""
        interval = (lambda boxes: self.interval(layer, boxes)) if self.supports("interval") else None
        return [AffineNode(output, inputs, layer, function=lambda t: layer(t, training=False), interval_rule=interval,
                           input_shape=graph.shapes[inputs[0]])]

    def power_vector_shape(self, layer: keras.layers.Layer) -> tuple[int, ...] | None:
        """The shape of the layer's power-iteration vector in Lipschitz-margin training, or None."""
        return None

    def trainable_lipschitz(self, layer: keras.layers.Layer, vector: keras.Variable | None, iterations: int) -> Tensor:
        """A differentiable estimate of the layer's constant, advancing `vector` by `iterations` steps."""
        raise NotImplementedError


def refuse_randomised(layer: keras.layers.Layer) -> None:
    """A clear error for layers that stay random at inference (kerobust's noise layers)."""
    if is_random_at_inference(layer):
        raise KerobustError(f"layer {layer.name!r} is random at inference; a deterministic bound does not apply.")


class Registry:
    """The rules by layer type: `rule_for(layer, family)` or a one-line refusal naming the layer."""

    def __init__(self, rules: Sequence[LayerRule]):
        self.rules = tuple(rules)
        self.by_type: dict[type, LayerRule] = {}
        for rule in self.rules:
            for kind in rule.types:
                if kind in self.by_type:
                    raise ValueError(f"two bound rules for {kind.__name__}")
                self.by_type[kind] = rule

    def find(self, layer: keras.layers.Layer) -> LayerRule | None:
        """The rule of the most specific registered class of `layer`, or None."""
        return next((self.by_type[kind] for kind in type(layer).__mro__ if kind in self.by_type), None)

    def supported(self, family: str) -> list[str]:
        return [rule.label for rule in self.rules if rule.supports(family)]

    def no_rule(self, layer: keras.layers.Layer, family: str, reason: str | None = None) -> KerobustError:
        why = f" ({reason})" if reason else ""
        return KerobustError(f"no {FAMILY_NAMES[family]} rule for layer {layer.name!r} ({type(layer).__name__}){why}; "
                             f"supported: {', '.join(self.supported(family))}.")

    def rule_for(self, layer: keras.layers.Layer, family: str) -> LayerRule:
        """The rule that bounds `layer` in `family`.

        Raises:
            KerobustError: the layer is random at inference, or has no rule in this family (naming it).
        """
        refuse_randomised(layer)
        rule = self.find(layer)
        if rule is None or not rule.supports(family):
            raise self.no_rule(layer, family)
        reason = rule.check(layer, family)
        if reason is not None:
            raise self.no_rule(layer, family, reason)
        return rule
