"""The Keras model wrapper whose `train_step` performs adversarial training."""

import keras

from kerobust import backend
from kerobust.errors import KerobustError


class AdversarialModel(backend.AdversarialTrainStep, keras.Model):
    """Wraps a classifier so that `fit` trains it with a `TrainingMethod` (natural, fgsm, pgd, free, ...).

    Calls, `evaluate` and `predict` go to the classifier unchanged; only `train_step` differs (see
    `kerobust.backend`). Works with every `model.fit` callback. Save the `classifier`, not the wrapper; the wrapper's
    weights (classifier, free-training perturbation) and optimizer state go to resumable checkpoints.

    Args:
        classifier: a built Keras model mapping [0, 1] images to logits.
        method: the `TrainingMethod`.
        batch_size: needed by replay methods, whose persistent perturbation has one row per batch element.
        norm_decay: an optional `kerobust.regularizers.NormDecay` applied at every optimizer step (seed 001
            Algorithm 1); its moving averages are weights of the wrapper.
    """

    def __init__(self, classifier, method, batch_size=None, norm_decay=None, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{method.name}_trainer"), **kwargs)
        self.classifier = classifier
        self.method = method
        if method.kind == "replay":
            if not batch_size:
                raise ValueError("replay training methods need the batch size")
            self.perturbation = self.add_weight(
                shape=(int(batch_size),) + tuple(classifier.input_shape[1:]),
                initializer="zeros", trainable=False, name="free_perturbation",
            )
        self.norm_decay = norm_decay
        self.norm_decay_momenta = []
        if norm_decay is not None:
            targets = norm_decay.targets(classifier)
            # Not tracked: the kernels are the classifier's variables, not the wrapper's own.
            object.__setattr__(self, "norm_decay_kernels", [layer.kernel for layer, _ in targets])
            self.norm_decay_fns = [fn for _, fn in targets]
            self.norm_decay_momenta = [
                self.add_weight(shape=tuple(layer.kernel.shape), initializer="zeros", trainable=False,
                                name=f"norm_decay_momentum_{i}")
                for i, (layer, _) in enumerate(targets)
            ]
        self.built = True

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        super().compile(optimizer, *args, **kwargs)
        # Checked after Keras has settled the optimizer: under a mixed_float16 policy it wraps a plain one itself.
        if self.norm_decay is not None and isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            raise KerobustError("norm decay does not support loss scaling (mixed precision); use a float32 policy.")

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)
