"""The Keras model wrapper whose `train_step` performs adversarial training."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

from kerobust.training.clean_and_adversarial import CleanAndAdversarialTraining
from kerobust.training.train_step import AdversarialTrainStep
from kerobust.types import Tensor
from kerobust.untracked import Untracked

if TYPE_CHECKING:
    import os

    from kerobust.regularizers.norm_decay import NormDecay
    from kerobust.training.method import TrainingMethod
    from kerobust.training.weight_perturbation import AdversarialWeightPerturbation


class AdversarialModel(AdversarialTrainStep, keras.Model):  # type: ignore[valid-type, misc]  # chosen by backend
    """Wraps a classifier so that `fit` trains it with a `TrainingMethod` (natural, fgsm, pgd, free, ...).

    Calls, `evaluate` and `predict` go to the classifier unchanged; only `train_step` differs (see
    `kerobust.training.train_step`). Works with every `model.fit` callback. `save` saves the classifier; the wrapper's
    weights (classifier, free-training perturbation) and optimizer state go to resumable checkpoints. Certified
    training methods (IBP, CROWN-IBP, Lipschitz-margin) add their verified loss in `compute_loss`.

    Args:
        classifier: a built Keras model mapping [0, 1] images to logits.
        method: the `TrainingMethod`.
        batch_size: needed by replay methods, whose persistent perturbation has one row per batch element.
        norm_decay: an optional `kerobust.regularizers.NormDecay` applied at every optimizer step (Algorithm 1 of
            Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness"); its moving averages
            are weights of the wrapper. It enters as an extra loss term of value 0 whose gradient is beta / N h
            (`norm_decay_term`), so every training method, both backends and loss scaling apply it without a line of
            their own.
        weight_perturbation: an optional `kerobust.training.AdversarialWeightPerturbation` (Wu et al. 2020): each
            step's gradient is taken at weights perturbed up the loss (not with replay methods).
    """

    def __init__(self, classifier: keras.Model, method: TrainingMethod, batch_size: int | None = None,
                 norm_decay: NormDecay | None = None,
                 weight_perturbation: AdversarialWeightPerturbation | None = None, **kwargs: Any):
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
        if weight_perturbation is not None and method.kind == "replay":
            raise ValueError("adversarial weight perturbation needs a method that builds one training batch per "
                             f"step, not the replays of {method.name!r}")
        self.weight_perturbation = weight_perturbation
        self.norm_decay = norm_decay
        self.norm_decay_momenta: list[keras.Variable] = []
        if norm_decay is not None:
            targets = norm_decay.targets(classifier)
            # Untracked: the kernels are the classifier's variables, not the wrapper's own.
            self.norm_decay_kernels = Untracked([layer.kernel for layer, _ in targets])
            self.norm_decay_fns = [fn for _, fn in targets]
            self.norm_decay_momenta = [
                self.add_weight(shape=tuple(layer.kernel.shape), initializer="zeros", trainable=False,
                                name=f"norm_decay_momentum_{i}")
                for i, (layer, _) in enumerate(targets)
            ]
        # Certified training's bound on the classifier: it reads the classifier's variables; a bound that is a Keras
        # layer (Lipschitz-margin training's power-iteration vectors) is tracked, for its own weights.
        # Certified methods only (`hasattr`): `bounds_for` is theirs, not `TrainingMethod`'s.
        self.certified_bound = (method.bounds_for(classifier)  # type: ignore[attr-defined]
                                if hasattr(method, "certified_loss") else None)
        # Compiled metrics that bound a ball around each input (`compile`).
        self.input_metrics: Untracked[list[keras.metrics.Metric]] = Untracked([])
        # The optimizer step of the batch being trained, set by `adversarial_train_step` around the loss (the
        # certified methods' eps ramp reads it); None outside it (then the optimizer's counter). Untracked: on
        # TensorFlow the counter converts to the optimizer's own variable.
        self.loss_step: Untracked[Tensor | None] = Untracked(None)
        self.built = True

    def compile(self, *args: Any, metrics: list[Any] | dict[str, Any] | None = None,
                weighted_metrics: list[Any] | dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Keras's `compile`; remembers the metrics that read the inputs (`CertifiedAccuracy` with a local method)."""
        super().compile(*args, metrics=metrics, weighted_metrics=weighted_metrics, **kwargs)
        given = keras.tree.flatten([metrics or [], weighted_metrics or []])
        self.input_metrics = Untracked([m for m in given if getattr(m, "reads_inputs", False)])

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, **kwargs: Any) -> None:
        """Saves the classifier, which is what the wrapper trains: the wrapper itself holds only training state
        (the optimizer, a free-training perturbation, norm-decay averages), which resumable checkpoints keep."""
        warnings.warn(f"AdversarialModel.save saves its classifier {self.classifier.name!r} (the model it trains) to "
                      f"{filepath}; the training state goes to kerobust's resumable checkpoints.", stacklevel=2)
        self.classifier.save(filepath, overwrite=overwrite, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        outputs = self.classifier(inputs, training=training)
        if training and self.norm_decay is not None:
            self.add_loss(self.norm_decay_term())
        return outputs

    def compute_metrics(self, x: Tensor, y: Tensor, y_pred: Tensor,
                        sample_weight: Tensor | None = None) -> dict[str, Tensor]:
        """Keras's metrics; those that bound a ball around each input (`CertifiedAccuracy` with a local method) get
        the inputs first."""
        for metric in self.input_metrics.value:
            metric.see_inputs(x)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def compute_loss(self, x: Tensor | None = None, y: Tensor | None = None, y_pred: Tensor | None = None,
                     sample_weight: Tensor | None = None, training: bool = True) -> Tensor:
        """Keras's loss; while training, a paired method's loss (TRADES, ALP, MART, PNI) on its batch of clean and
        adversarial halves, or a certified method's (Keras's loss and the verified term)."""
        if training and isinstance(self.method, CleanAndAdversarialTraining):
            return self.method.paired_loss(super().compute_loss, x, y, y_pred, sample_weight)
        if training and self.certified_bound is not None:
            step = self.optimizer.iterations if self.loss_step.value is None else self.loss_step.value
            # A certified bound exists for certified methods only, which have `training_loss`.
            return self.method.training_loss(  # type: ignore[attr-defined]
                super().compute_loss, self.certified_bound, x, y, y_pred, sample_weight, step)
        return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    def norm_decay_term(self) -> Tensor:
        """Liang & Huang (2021) Algorithm 1 lines 4-6 as a loss term: updates each moving average
        h <- gamma h + (1 - gamma) p and returns sum_i <sg(beta / N h_i), W_i> - sg(<beta / N h_i, W_i>) (sg: stop
        gradient), whose value is 0 and whose gradient with respect to W_i is beta / N h_i, added to the loss gradient
        before the optimizer step."""
        kernels = [ops.convert_to_tensor(kernel) for kernel in self.norm_decay_kernels.value]
        increments, momenta = self.norm_decay.step(  # type: ignore[union-attr]  # called only with norm decay set
            [ops.stop_gradient(k) for k in kernels], [ops.convert_to_tensor(h) for h in self.norm_decay_momenta],
            self.norm_decay_fns,
        )
        term = 0.0
        for variable, momentum in zip(self.norm_decay_momenta, momenta):
            variable.assign(ops.stop_gradient(momentum))
        for kernel, increment in zip(kernels, increments):
            increment = ops.stop_gradient(ops.cast(increment, kernel.dtype))
            product = ops.sum(increment * kernel)
            term = term + product - ops.stop_gradient(product)
        return term
