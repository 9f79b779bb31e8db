"""Per-sample lower bounds on the smallest l2 input perturbation that changes a Keras model's decision, composed
through the network (Algorithm 5.1 of Peck 2017, "Robustness of Classifiers to Adversarial Perturbations", MSc thesis,
Ghent University; docs/bounds.md section 3), in one compiled function.

Modes (every result names its mode):
* "sound": kappa_1(x) = delta(y(x)) / L, with delta the exact output margin (`output_margin`) of the last linear layer
  on its input y, and L an upper bound on the l2 Lipschitz constant of the map from the input to y, composed from
  each layer's constant (`rules.layer_lipschitz`; a sum over the branches of an Add, the root of the sum of squares
  over a Concatenate). Valid for every input: a perturbation r changes the decision only if ||y(x + r) - y(x)|| >=
  delta, and that needs ||r|| >= delta / L.
* "thesis": Peck's (2017) rules walked backwards down a chain of layers with each layer's clean input (dense block
  Theorem 4.2, convolution Theorem 5.1, pooling 5.3, batch norm 5.6, LRN 5.9), including the flaws that docs/bounds.md
  section 8 lists, for reproducing and comparing with the thesis.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.bounds.lipschitz.folding import batch_norm_folds, inputs_of
from kerobust.bounds.lipschitz.lipschitz_composition import compose_lipschitz
from kerobust.bounds.lipschitz.output_margin import margin_bound
from kerobust.bounds.rules import RULES, layer_lipschitz
from kerobust.catalog import BOUND_MODES as MODES
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import Array, ArrayLike, Tensor


def _is_softmax(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "softmax"
    )


def _with_dtype(model: keras.Model, dtype: str) -> keras.Model:
    """`model`, or a copy of it computing in `dtype` (same weights, cast).

    A Sequential model is always copied: once loaded from a `.keras` file its layers' first call (`layer.input`,
    which the rules read) belongs to an earlier graph than `model.inputs`; a copy's layers are called once."""
    if dtype == "float32" and not isinstance(model, keras.Sequential):
        return model

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights([np.asarray(w).astype(dtype) if np.asarray(w).dtype.kind == "f" else np.asarray(w)
                      for w in model.get_weights()])
    return copy


@dataclasses.dataclass
class _Head:
    """The decision: argmax of `kernel`-weighted `features` (a Dense head), or of `features` itself."""

    features: keras.KerasTensor  # the symbolic tensor y the margin is measured on
    layer: keras.layers.Dense | None  # the Dense head, or None


def decision_head(model: keras.Model) -> tuple[_Head, list[keras.layers.Layer]]:
    """`(head, layers)`: the decision (the Dense head and the tensor it reads, softmax left out) and the layers
    below it."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    while layers and _is_softmax(layers[-1]):
        layers.pop()
    if not layers:
        raise KerobustError(f"model {model.name!r} has no layers to bound.")
    last = layers[-1]
    if isinstance(last, keras.layers.Dense):
        return _Head(last.input, last), layers[:-1]
    return _Head(last.output, None), layers


class BoundEvaluator:
    """Lower bounds on the minimal adversarial l2 perturbation, per sample, for a functional or Sequential model.

    Args:
        model: a Keras classifier (logits or softmax outputs); nested models are not walked.
        mode: "sound" (valid bounds) or "thesis" (Peck's 2017 rules).
        jit: "auto" (XLA on JAX and on a TensorFlow GPU; a TensorFlow graph on CPU, where XLA's eigensolver makes
            thesis mode about 100x slower), "on" (XLA), "off", or True / False (compiled as "auto" / eager).
        dtype: "float32", or "float64" to evaluate a float64 copy of the model (margins between close logits lose
            digits in float32; in float64 TensorFlow and JAX agree to about 1e-10).

    Raises:
        KerobustError: naming the first layer without a rule in this mode.
    """

    def __init__(self, model: keras.Model, mode: str = "sound", jit: str | bool = "auto",
                 dtype: str = "float32") -> None:
        if mode not in MODES:
            raise unknown_name("bound mode", mode, MODES)
        if dtype not in ("float32", "float64"):
            raise unknown_name("bound dtype", dtype, ("float32", "float64"))
        if dtype == "float64" and not backend.supports_float64():
            raise KerobustError("float64 bounds on JAX need 64-bit mode: set JAX_ENABLE_X64=1 before starting Python.")
        self.dtype = dtype
        self.source = model
        model = _with_dtype(model, dtype)
        self.model = model
        self.mode = mode
        self.head, self.layers = decision_head(model)
        if len(model.inputs) != 1:
            raise KerobustError(f"model {model.name!r} has {len(model.inputs)} inputs; bounds need one.")
        if mode == "sound":
            self.lipschitz = self.current_lipschitz()
            self.probe = keras.Model(model.inputs[0], self.head.features)
        else:
            self.steps = self._thesis_plan()
            self.probe = keras.Model(model.inputs[0], [self.head.features] + [t for _, t in self.steps])
        if jit is False:
            self._compiled = self._bounds
        else:
            self._compiled = backend.compile_function(self._bounds, xla=backend.use_xla("auto" if jit is True else jit),
                                                     per_point=1)

    def current_lipschitz(self) -> float:
        """The sound mode's Lipschitz constant for the model's current weights, composed forward over the graph:
        L(tensor) bounds the Lipschitz constant of input -> tensor."""
        if self.model is not self.source:  # a copy (float64, Sequential): take the source's current weights
            self.model.set_weights([np.asarray(w).astype(v.dtype) for w, v in
                                    zip(self.source.get_weights(), self.model.weights)])
        kernels, folded = batch_norm_folds(self.layers, [self.head.features])

        def constant(layer):  # a folded batch norm lives inside a neighbouring kernel
            return 1.0 if id(layer) in folded else layer_lipschitz(layer, kernels.get(id(layer)))

        return compose_lipschitz(self.layers, self.model.inputs, self.head.features, constant)

    def _thesis_plan(self):
        """The chain below the head, top down: `((rule, its payload), tensor the rule reads)` per step."""
        layers = list(self.layers)
        for layer in layers:
            rule = RULES.find(layer)
            if (rule is not None and rule.merges) or len(inputs_of(layer)) != 1:
                raise KerobustError(f"thesis mode covers chains of layers only; {layer.name!r} merges branches "
                                    f"(use mode='sound').")
        # The Dense block right below the head (dropout in between passes through), applied as one block.
        block = []
        while layers and isinstance(layers[-1], (keras.layers.Dense, keras.layers.Dropout)):
            layer = layers.pop()
            if isinstance(layer, keras.layers.Dense):
                block.insert(0, layer)
        plan = []
        if block:
            rule = RULES.rule_for(block[0], "thesis")
            plan.append(((rule, rule.thesis_block(block)), block[0].input))
        for layer in reversed(layers):
            plan.append(self._thesis_step(layer))
        return plan

    @staticmethod
    def _thesis_step(layer):
        rule = RULES.rule_for(layer, "thesis")
        payload, tensor = rule.thesis_step(layer)
        return (rule, payload), tensor

    def _margin(self, features: Tensor) -> Tensor:
        if self.head.layer is None:
            return margin_bound(features)
        head = self.head.layer
        logits = ops.matmul(features, head.kernel) + (head.bias if head.use_bias else 0.0)
        return margin_bound(logits, head.kernel)

    def _bounds(self, x: Tensor) -> Tensor:
        if self.mode == "sound":
            features = self.probe(x, training=False)
            return self._margin(features) / self.lipschitz
        features, *tensors = self.probe(x, training=False)
        kappa = self._margin(features)
        for ((rule, payload), _), tensor in zip(self.steps, tensors):
            kappa = rule.thesis_bound(kappa, payload, tensor)
        return kappa

    def __call__(self, x: ArrayLike, batch_size: int = 256) -> Array:
        """(N,) numpy bounds, in the units of the model's input."""
        x = np.asarray(x, dtype=self.dtype)
        parts = [np.asarray(self._compiled(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,), "float32")
