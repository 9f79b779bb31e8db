"""SABR and MTL-IBP against their formulas in NumPy: a three-class linear model, one plain SGD step at a point of the
eps ramp. For a linear model IBP is exact: the margin bound over the box [c - r, c + r] (inside the input box) is
m_j = (w_y - w_j) . c + b_y - b_j - r ||w_y - w_j||_1. The expected step is W - lr dL/dW with L the paper's loss in
float64 NumPy, its gradient by central differences. The adversarial points come from a fixed perturbation scaled as
the ramp scales the attack; the attacks themselves are checked on a two-class model, where PGD's l-inf maximiser is a
corner in closed form."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

from kerobust.backend import compile_attack
from kerobust.errors import KerobustError
from kerobust.training import AdversarialModel, build_training_method

pytestmark = pytest.mark.smoke

EPS, LR, LAMBDA, ALPHA = 0.1, 0.5, 0.4, 0.3


@dataclasses.dataclass(frozen=True)
class FixedAttack:
    """Stands in for PGD: x + scale * delta."""

    delta: np.ndarray
    steps: int = 1

    def perturb_scaled(self, oracle, x, y, seed, scale):
        return x + ops.cast(scale, "float32") * ops.convert_to_tensor(self.delta)

    def describe(self):
        return "Fixed"


def _problem(classes=3):
    rng = np.random.default_rng(2)
    x = rng.uniform(EPS, 1 - EPS, size=(12, 5)).astype("float32")
    y = np.arange(12) % classes
    weights = rng.normal(size=(5, classes)).astype("float32")
    bias = rng.normal(size=classes).astype("float32") * 0.1
    delta = (EPS * rng.choice([-1.0, 1.0], size=x.shape)).astype("float32")
    return x, y, weights, bias, delta


def _ce(z, y):
    z = z - z.max(1, keepdims=True)
    return np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]


def _worst_logits(weights, bias, centre, radius, y):
    """-m: the IBP (here exact) worst-case logits over the box, column y at 0."""
    w_y, b_y = weights[:, y].T, bias[y]
    gaps = (w_y[:, :, None] - weights[None]).transpose(0, 2, 1)  # (N, C, d): w_y - w_j
    margins = np.einsum("ncd,nd->nc", gaps, centre) + b_y[:, None] - bias[None] - radius * np.abs(gaps).sum(2)
    return -margins


def _numpy_loss(name, weights, bias, x, y, delta, done):
    kappa = 1 - done  # kappa_end 0
    if name == "sabr":
        centre = x + (1 - LAMBDA) * done * delta
        robust = _ce(_worst_logits(weights, bias, centre, LAMBDA * EPS * done, y), y)
        return np.mean(kappa * _ce(centre @ weights + bias, y) + (1 - kappa) * robust)
    adversarial = _ce((x + done * delta) @ weights + bias, y)
    verified = _ce(_worst_logits(weights, bias, x, EPS * done, y), y)
    return np.mean(kappa * _ce(x @ weights + bias, y)
                   + (1 - kappa) * ((1 - ALPHA) * adversarial + ALPHA * verified))


def _numpy_step(name, x, y, weights, bias, delta, done):
    params = np.concatenate([weights.ravel(), bias]).astype("float64")
    classes = weights.shape[1]

    def loss(p):
        return _numpy_loss(name, p[:-classes].reshape(weights.shape), p[-classes:], x.astype("float64"), y,
                           delta.astype("float64"), done)

    h = 1e-6
    grad = np.array([(loss(params + h * e) - loss(params - h * e)) / (2 * h) for e in np.eye(len(params))])
    stepped = params - LR * grad
    return stepped[:-classes].reshape(weights.shape), stepped[-classes:]


def _method(name, ramp_steps=2):
    return build_training_method(name, eps=EPS, steps=3, step_size=2.5 * EPS, warmup_steps=0, ramp_steps=ramp_steps,
                                 kappa_end=0.0, **({"sabr_lambda": LAMBDA} if name == "sabr" else
                                                   {"mtl_alpha": ALPHA}))


def _classifier(weights, bias):
    classifier = keras.Sequential([keras.Input((weights.shape[0],)), keras.layers.Dense(weights.shape[1])])
    classifier.layers[0].set_weights([weights, bias])
    return classifier


@pytest.mark.parametrize("step, done", [(1, 0.5), (2, 1.0)], ids=["mid-ramp", "ramp-done"])
@pytest.mark.parametrize("name", ["sabr", "mtl-ibp"])
def test_one_step_follows_the_papers_loss(name, step, done):
    x, y, weights, bias, delta = _problem()
    method = dataclasses.replace(_method(name), attack=FixedAttack(delta))
    classifier = _classifier(weights, bias)
    trainer = AdversarialModel(classifier, method)
    trainer.compile(optimizer=keras.optimizers.SGD(LR),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.optimizer.iterations.assign(step)
    trainer.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    kernel, bias_after = classifier.layers[0].get_weights()
    expected_kernel, expected_bias = _numpy_step(name, x, y, weights, bias, delta, done)
    np.testing.assert_allclose(kernel, expected_kernel, atol=3e-6)
    np.testing.assert_allclose(bias_after, expected_bias, atol=3e-6)
    ibp_kernel, _ = _numpy_step("sabr" if name == "mtl-ibp" else "mtl-ibp", x, y, weights, bias, delta, done)
    assert np.abs(ibp_kernel - expected_kernel).max() > 1e-3  # the check tells the two losses apart


def _training_batch(method, weights, bias, x, y, step):
    classifier = _classifier(weights, bias)
    batch = compile_attack(
        classifier, lambda oracle, x, y, seed: method.training_batch(oracle, x, y, None, seed, step)[0],
        method.loss_fn)
    return ops.convert_to_numpy(batch(ops.convert_to_tensor(x), ops.convert_to_tensor(y), np.array([3, 4], "int32")))


@pytest.mark.parametrize("step, done", [(0, 0.0), (1, 0.5), (2, 1.0)])
@pytest.mark.parametrize("name", ["sabr", "mtl-ibp"])
def test_the_attack_follows_the_ramp(name, step, done):
    """Two classes: PGD's maximiser at radius r is the corner x + r sign(w_other - w_y); r = (1 - lambda) eps_t for
    SABR's box centres, eps_t for MTL-IBP's adversarial half, 0 during the warm-up."""
    x, y, weights, bias, _ = _problem(classes=2)
    x_train = _training_batch(_method(name), weights, bias, x, y, step)
    direction = np.sign(weights[:, 1] - weights[:, 0])
    towards_other = np.where(y[:, None] == 0, direction, -direction)
    radius = (1 - LAMBDA) * EPS * done if name == "sabr" else EPS * done
    expected = x + radius * towards_other
    if name == "mtl-ibp":
        expected = np.concatenate([x, expected])
    np.testing.assert_allclose(x_train, expected, atol=1e-6)


def test_the_certified_flags_are_checked():
    assert build_training_method("sabr", eps=0.1).box_share == 0.4
    assert build_training_method("mtl-ibp", eps=0.1, mtl_alpha=0.2).alpha == 0.2
    assert "SABR training at linf eps 0.1" in build_training_method("sabr", eps=0.1).describe()
    with pytest.raises(KerobustError, match="sabr_lambda must be in"):
        build_training_method("sabr", eps=0.1, sabr_lambda=0.0)
    with pytest.raises(KerobustError, match="--train-method mtl-ibp"):
        build_training_method("sabr", eps=0.1, mtl_alpha=0.2)
