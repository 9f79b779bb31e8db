"""A differentiable estimate of the sound mode's Lipschitz constant, for Lipschitz-margin training.

References: Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-Margin Training", section 4 (the product of per-layer spectral
norms, each tracked by one power-iteration step per training step, the vectors kept from step to step as in Miyato et
al. 2018's spectral normalisation); Leino, Wang & Fredrikson 2021 (GloRo) section 3.

Each layer gets the same constant as its sound rule (`kerobust.bounds.rules`), estimated by its trainable rule, so
training shrinks the quantity `lipschitz` certification divides by:
* Dense: ||W||_2, tracked by power iteration on W;
* Conv2D: min(||W||_F sqrt(m), ||circular convolution on the zero-padded grid||_2) (`bounds.convolution`), the second
  tracked by power iteration on every frequency's Cin x Cout block of the kernel's 2-D DFT (Sedghi et al. 2019) at
  once;
* BatchNormalization: max |gamma| / sqrt(var + eps), with the moving variance (the inference map; not folded into a
  neighbour, so never below the certified constant);
* layers without trainable weights (activations, pooling, Flatten, Dropout, the input normalisation): their exact
  constants.
Power iteration approaches each norm from below; the vectors are held fixed in the gradient (sigma = ||A v||, v
normalised), so the loss's gradient is the norm's gradient at convergence.
"""

from __future__ import annotations

from typing import Any

import keras

from kerobust.bounds.lipschitz.evaluator import decision_head
from kerobust.bounds.lipschitz.lipschitz_composition import compose_lipschitz
from kerobust.bounds.rules import RULES, layer_lipschitz, refuse_randomised
from kerobust.types import Tensor
from kerobust.untracked import Untracked

class TrainableLipschitz(keras.layers.Layer):
    """`L = lipschitz(iterations)`: the estimate for the classifier's current weights, advancing every power-iteration
    vector by `iterations` steps (the vectors are this layer's non-trainable weights, so JAX's stateless steps carry
    them).

    Args:
        classifier: the model being trained (functional; the Dense head is left to the margin, as in sound mode).
        warm_iterations: power-iteration steps run once at creation, so the first training steps see converged
            vectors.

    Raises:
        KerobustError: naming the first layer with trainable weights and no differentiable rule (ConvNorm,
            DepthwiseConv2D, ...), or a layer that is random at inference.
    """

    def __init__(self, classifier: keras.Model, warm_iterations: int = 50, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", "trainable_lipschitz"), **kwargs)
        head, layers = decision_head(classifier)
        # Untracked: the classifier's layers belong to the classifier.
        self.graph = Untracked((classifier.inputs, head, layers))
        self.head = Untracked(head.layer)  # the Dense head, or None
        self.vectors: list[keras.Variable] = []
        self.vector_of: Untracked[dict[int, int]] = Untracked({})  # id(layer) -> index of its power-iteration vector
        for layer in layers:
            refuse_randomised(layer)
            rule = RULES.find(layer)
            if rule is not None and rule.supports("trainable"):
                RULES.rule_for(layer, "trainable")  # refuses an unsupported configuration (channels first)
                shape = rule.power_vector_shape(layer)
                if shape is not None:
                    self.vector_of.value[id(layer)] = len(self.vectors)
                    self.vectors.append(self.add_weight(shape=shape, trainable=False, name=f"power_vector_{layer.name}",
                                                        initializer=keras.initializers.RandomNormal(seed=0)))
            elif layer.trainable_weights:
                raise RULES.no_rule(layer, "trainable")
        self.built = True
        if warm_iterations:
            self.lipschitz(warm_iterations)

    def lipschitz(self, iterations: int = 1) -> Tensor:
        """The composed estimate (a scalar tensor, differentiable in the kernels)."""
        inputs, head, layers = self.graph.value

        def constant(layer: keras.layers.Layer) -> float | Tensor:
            rule = RULES.find(layer)
            if rule is not None and rule.supports("trainable"):
                index = self.vector_of.value.get(id(layer))
                return rule.trainable_lipschitz(layer, None if index is None else self.vectors[index], iterations)
            return layer_lipschitz(layer)

        return compose_lipschitz(layers, inputs, head.features, constant)
