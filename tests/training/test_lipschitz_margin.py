"""Lipschitz-margin training: the head's pair distances and the loss in closed form, the l2-only refusal, and training
that certifies, by the sound Lipschitz bound, points natural training leaves uncertified."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator
from kerobust.errors import KerobustError
from kerobust.evaluation.certification import lipschitz_margins
from kerobust.models import build_model
from kerobust.training import AdversarialModel, build_training_method
from kerobust.bounds.lipschitz.output_margin import pair_distances

pytestmark = pytest.mark.smoke


def _trainer(digits, method, width=1):
    keras.utils.set_random_seed(0)
    classifier = build_model("certcnn", digits.input_shape, 10, digits.mean, digits.std, width=width)
    trainer = AdversarialModel(classifier, method)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return classifier, trainer


def test_pair_distances_are_the_norms_of_the_head_column_differences():
    kernel = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    labels = np.array([0, 3, 1])
    expected = np.array([[np.linalg.norm(kernel[:, y] - kernel[:, c]) for c in range(4)] for y in labels])
    logits = np.zeros((3, 4), "float32")
    np.testing.assert_allclose(np.asarray(pair_distances(kernel, labels, logits)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pair_distances(None, labels, logits)), np.full((3, 4), 2 ** 0.5), rtol=1e-6)


@pytest.mark.slow_on_jax
def test_the_loss_is_cross_entropy_on_logits_raised_by_eps_times_each_pairs_lipschitz_constant(digits):
    """At mid-ramp (eps 0.25 of 0.5, kappa 1/2) the loss is 1/2 CE(z) + 1/2 CE(z + 0.25 L ||w_y - w_c|| (1 - e_y)),
    with L the sound evaluator's constant and the head's columns read from the model."""
    method = build_training_method("lipschitz-margin", eps=0.5, norm="l2", ramp_steps=4)
    classifier, trainer = _trainer(digits, method)
    trainer.optimizer.iterations.assign(2)
    x, y = digits.x_train[:16], digits.y_train[:16]
    logits = np.asarray(classifier(x, training=True), "float64")
    loss = float(trainer.compute_loss(x=x, y=y, y_pred=logits.astype("float32"), training=True))
    lipschitz = BoundEvaluator(classifier, "sound", jit=False).lipschitz
    kernel = np.asarray(classifier.get_layer("logits").kernel, "float64")
    spread = np.linalg.norm(kernel[:, y].T[:, :, None] - kernel[None], axis=1)
    raised = logits + 0.25 * lipschitz * spread * (1 - np.eye(10)[y])

    def ce(z):
        z = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y])

    assert loss == pytest.approx(0.5 * ce(logits) + 0.5 * ce(raised), rel=1e-3)


def test_lipschitz_margin_training_is_l2_only():
    with pytest.raises(KerobustError, match="l2"):
        build_training_method("lipschitz-margin", eps=0.1, norm="linf")
    assert build_training_method("lipschitz-margin", eps=0.3, norm="l2").final_kappa == 0.0


@pytest.mark.slow_on_jax
def test_lipschitz_margin_training_certifies_what_natural_training_cannot(digits):
    x, y = digits.x_train, digits.y_train
    certified = {}
    for name in ("natural", "lipschitz-margin"):
        options = {"norm": "l2", "ramp_steps": 200} if name == "lipschitz-margin" else {}
        classifier, trainer = _trainer(digits, build_training_method(name, eps=0.3, **options), width=2)
        trainer.fit(x, y, batch_size=32, epochs=8, verbose=0)
        certified[name] = np.mean(lipschitz_margins(classifier, digits.x_test, digits.y_test, 0.1) > 0)
    assert certified["natural"] < 0.05 and certified["lipschitz-margin"] > 0.5  # measured: 0 and 0.74 (JAX 0.79)
