"""The batch the optimizer sees, against a closed form: a two-class linear model, one SGD step.

For logits z = x W + b with two classes, the input gradient of the cross-entropy of true class y is
(p_other - [other == y]) (w_other - w_y) summed over the other class, whose sign is sign(w_other - w_y) wherever x
is: the l-inf attacks' steepest-ascent point is x + eps * sign(w_other - w_y), from any start, once a step reaches
the ball's corner. One plain SGD step then moves W by -lr * mean_i x_adv_i^T (softmax(x_adv_i W + b) - onehot(y_i)).
A method that trained on clean x, or on a wrong batch, moves W elsewhere.
"""

import keras
import numpy as np
import pytest

from kerobust.attacks import FGSM, PGD
from kerobust.training import AdversarialModel, build_training_method
from kerobust.training.attack_training import AttackTraining

pytestmark = pytest.mark.smoke

EPS, LR = 0.1, 0.5


def _problem():
    rng = np.random.default_rng(0)
    x = rng.uniform(EPS, 1 - EPS, size=(16, 6)).astype("float32")  # inside the box by eps: no clipping at [0, 1]
    y = np.arange(16) % 2
    weights = rng.normal(size=(6, 2)).astype("float32")
    bias = np.array([0.1, -0.2], "float32")
    return x, y, weights, bias


def _one_step(method):
    x, y, weights, bias = _problem()
    classifier = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    classifier.layers[0].set_weights([weights, bias])
    trainer = AdversarialModel(classifier, method)
    trainer.compile(optimizer=keras.optimizers.SGD(LR),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return [np.asarray(v) for v in classifier.layers[0].get_weights()]


def _expected_step(x_batch):
    x, y, weights, bias = _problem()
    x64 = x_batch.astype("float64")
    logits = x64 @ weights + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(2)[y]
    return weights - LR * x64.T @ residual / len(x), bias - LR * residual.mean(0)


def _corner():
    x, y, weights, _ = _problem()
    direction = np.sign(weights[:, 1] - weights[:, 0])  # towards class 1
    return x + EPS * np.where(y[:, None] == 0, direction, -direction)


@pytest.mark.parametrize("method", [
    AttackTraining(seed=0, attack=FGSM(eps=EPS, random_start=False)),
    AttackTraining(seed=0, attack=PGD(eps=EPS, steps=3, step_size=2.5 * EPS)),  # random start, then the corner
    build_training_method("pgd", eps=EPS, steps=3, step_size=2.5 * EPS),
], ids=["fgsm", "pgd", "pgd-registry"])
def test_attack_training_steps_on_the_steepest_ascent_corner(method):
    kernel, bias = _one_step(method)
    expected_kernel, expected_bias = _expected_step(_corner())
    np.testing.assert_allclose(kernel, expected_kernel, atol=2e-6)
    np.testing.assert_allclose(bias, expected_bias, atol=2e-6)
    clean_kernel, _ = _expected_step(_problem()[0])
    assert np.abs(clean_kernel - expected_kernel).max() > 1e-3  # the check tells clean from adversarial batches


def test_natural_training_steps_on_the_clean_batch():
    kernel, bias = _one_step(build_training_method("natural", eps=EPS))
    expected_kernel, expected_bias = _expected_step(_problem()[0])
    np.testing.assert_allclose(kernel, expected_kernel, atol=2e-6)
    np.testing.assert_allclose(bias, expected_bias, atol=2e-6)
