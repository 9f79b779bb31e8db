"""TRADES, ALP and MART against their formulas computed in NumPy: a three-class linear model, a fixed adversarial
copy of the batch, one plain SGD step. The expected step is W - lr * dL/dW with L the paper's loss written in float64
NumPy and its gradient taken by central differences, independent of the library's code and of autodiff. A loss on the
wrong half, a missing term or a term without gradient through the clean logits moves W elsewhere.

The attacks are checked on a two-class linear model, where the maximisers are corners of the l-inf ball in closed
form."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

from kerobust.attacks.losses import cross_entropy, kl_divergence
from kerobust.backend import compile_attack
from kerobust.errors import KerobustError
from kerobust.training import AdversarialModel, build_training_method
from kerobust.training.alp import LogitPairingTraining
from kerobust.training.mart import MartTraining, log_one_minus_softmax
from kerobust.training.trades import TradesTraining

pytestmark = pytest.mark.smoke

EPS, LR, CLASSES = 0.1, 0.5, 3


def _problem(classes=CLASSES):
    rng = np.random.default_rng(1)
    x = rng.uniform(EPS, 1 - EPS, size=(12, 5)).astype("float32")
    y = np.arange(12) % classes
    weights = rng.normal(size=(5, classes)).astype("float32")
    bias = rng.normal(size=classes).astype("float32") * 0.1
    delta = (EPS * rng.choice([-1.0, 1.0], size=x.shape) * rng.uniform(0.5, 1, size=x.shape)).astype("float32")
    sample_weight = rng.uniform(0.2, 2.0, size=len(x)).astype("float32")
    return x, y, weights, bias, delta, sample_weight


def _log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def _numpy_loss(name, weights, bias, x, y, x_adv, w):
    """The papers' losses in float64: TRADES eq. (5), ALP section 4.1, MART eq. (11); per-example terms weighted by w
    and divided by the batch size, as Keras weighs its losses."""
    log_p, log_q = _log_softmax(x @ weights + bias), _log_softmax(x_adv @ weights + bias)
    rows = np.arange(len(y))
    ce_clean, ce_adv = -log_p[rows, y], -log_q[rows, y]
    kl = (np.exp(log_p) * (log_p - log_q)).sum(1)
    if name == "trades":
        values = ce_clean + 6.0 * kl
    elif name == "alp":
        z, z_adv = x @ weights + bias, x_adv @ weights + bias
        values = 0.5 * ce_clean + 0.5 * ce_adv + 0.5 * ((z - z_adv) ** 2).mean(1)
    else:
        q = np.exp(log_q)
        others = np.where(np.eye(weights.shape[1])[y] == 1, -np.inf, q)
        values = ce_adv - np.log(1 - others.max(1)) + 6.0 * kl * (1 - np.exp(log_p[rows, y]))
    return (values * w).mean()


def _numpy_step(name, x, y, weights, bias, x_adv, w):
    params = np.concatenate([weights.ravel(), bias]).astype("float64")
    shape = weights.shape

    def loss(p):
        return _numpy_loss(name, p[:-shape[1]].reshape(shape), p[-shape[1]:], x.astype("float64"), y,
                           x_adv.astype("float64"), w)

    h = 1e-6
    grad = np.array([(loss(params + h * e) - loss(params - h * e)) / (2 * h) for e in np.eye(len(params))])
    stepped = params - LR * grad
    return stepped[:-shape[1]].reshape(shape), stepped[-shape[1]:]


def _fixed(method_class, delta):
    """`method_class` whose adversarial copy is x + delta (the attack is checked on its own below)."""
    return dataclasses.dataclass(frozen=True)(type(
        f"Fixed{method_class.__name__}", (method_class,),
        {"adversarial_examples": lambda self, oracle, x, y, seed: x + ops.convert_to_tensor(delta)}))


def _one_step(method, x, y, weights, bias, sample_weight=None):
    classifier = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(weights.shape[1])])
    classifier.layers[0].set_weights([weights, bias])
    trainer = AdversarialModel(classifier, method)
    trainer.compile(optimizer=keras.optimizers.SGD(LR),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x, y, sample_weight=sample_weight, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return [np.asarray(v) for v in classifier.layers[0].get_weights()]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name, method_class", [("trades", TradesTraining), ("alp", LogitPairingTraining),
                                                ("mart", MartTraining)])
def test_one_step_follows_the_papers_loss(name, method_class, weighted):
    x, y, weights, bias, delta, sample_weight = _problem()
    w = sample_weight if weighted else np.ones(len(x), "float32")
    method = _fixed(method_class, delta)(attack=build_training_method("pgd", eps=EPS).attack)
    kernel, bias_after = _one_step(method, x, y, weights, bias, sample_weight if weighted else None)
    expected_kernel, expected_bias = _numpy_step(name, x, y, weights, bias, x + delta, w)
    np.testing.assert_allclose(kernel, expected_kernel, atol=3e-6)
    np.testing.assert_allclose(bias_after, expected_bias, atol=3e-6)
    pgd_kernel, _ = _numpy_step("alp" if name != "alp" else "trades", x, y, weights, bias, x + delta, w)
    assert np.abs(pgd_kernel - expected_kernel).max() > 1e-3  # the check tells the three losses apart


def test_kl_divergence_and_log_one_minus_softmax_match_numpy():
    rng = np.random.default_rng(0)
    z, z_ref = rng.normal(size=(4, 5)) * 3, rng.normal(size=(4, 5))
    q = np.exp(_log_softmax(z_ref))
    expected = (q * (np.log(q) - _log_softmax(z))).sum(1)
    values = kl_divergence()(ops.convert_to_tensor(q, "float32"), ops.convert_to_tensor(z, "float32"),
                             per_sample=True)
    np.testing.assert_allclose(ops.convert_to_numpy(values), expected, rtol=1e-5)
    p = np.exp(_log_softmax(z))
    np.testing.assert_allclose(ops.convert_to_numpy(log_one_minus_softmax(ops.convert_to_tensor(z, "float32"))),
                               np.log1p(-p), atol=2e-5)


def _training_batch(method, weights, bias, x, y):
    classifier = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(weights.shape[1])])
    classifier.layers[0].set_weights([weights, bias])
    batch = compile_attack(classifier, lambda oracle, x, y, seed: method.training_batch(oracle, x, y, None, seed)[:2],
                           method.loss_fn)
    return [ops.convert_to_numpy(t) for t in batch(ops.convert_to_tensor(x), ops.convert_to_tensor(y),
                                                   np.array([3, 4], "int32"))]


@pytest.mark.parametrize("name", ["alp", "mart"])
def test_alp_and_mart_attack_the_cross_entropy(name):
    """Two classes: the cross-entropy's l-inf maximiser is the corner x + eps sign(w_other - w_y), from any start."""
    x, y, weights, bias, _, _ = _problem(classes=2)
    method = build_training_method(name, eps=EPS, steps=3, step_size=2.5 * EPS)
    x_train, y_train = _training_batch(method, weights, bias, x, y)
    direction = np.sign(weights[:, 1] - weights[:, 0])
    corner = x + EPS * np.where(y[:, None] == 0, direction, -direction)
    np.testing.assert_array_equal(x_train[:len(x)], x)
    np.testing.assert_allclose(x_train[len(x):], corner, atol=1e-6)
    np.testing.assert_array_equal(y_train, np.concatenate([y, y]))


def test_trades_attack_moves_the_output_away_from_the_clean_one():
    """Two classes: KL(f(x) || f(x')) grows with |d(x') - d(x)|, d the logit difference, so its l-inf maximisers from
    a start near x are the corners x +- eps sign(w_1 - w_0); an attack on the label would reach only the corner
    towards the other class, the KL attack reaches both (the side of its Gaussian start)."""
    x, y, weights, bias, _, _ = _problem(classes=2)
    method = build_training_method("trades", eps=EPS, steps=3, step_size=2.5 * EPS)
    x_train, _ = _training_batch(method, weights, bias, x, y)
    x_adv = x_train[len(x):]
    direction = np.sign(weights[:, 1] - weights[:, 0])
    towards_other = np.where(y[:, None] == 0, direction, -direction)
    side = np.sign((x_adv - x) @ direction)[:, None]
    np.testing.assert_allclose(x_adv, x + EPS * side * direction, atol=1e-6)
    assert len(set(np.sign((x_adv - x) * towards_other).mean(1).round())) == 2  # both corners occur


def test_the_paired_methods_are_built_from_their_flags_and_refuse_the_others():
    trades = build_training_method("trades", eps=0.2, steps=7, step_size=0.05, trades_beta=3.0)
    assert trades.beta == 3.0 and trades.attack.steps == 7 and trades.attack.gaussian_start == 1e-3
    assert build_training_method("alp", eps=0.2, alp_weight=1.0).attack.gaussian_start == 0.0
    assert build_training_method("mart", eps=0.2, mart_beta=5.0).beta == 5.0
    assert "TRADES training, beta 3" in trades.describe()
    with pytest.raises(KerobustError, match="--train-method trades"):
        build_training_method("pgd", eps=0.2, trades_beta=3.0)
    with pytest.raises(KerobustError, match="adversarial share below 1"):
        build_training_method("mart", eps=0.2, adversarial_share=0.5)
    with pytest.raises(KerobustError, match="alp_weight must be >= 0"):
        build_training_method("alp", eps=0.2, alp_weight=-1.0)


def test_the_attack_loss_of_trades_is_the_kl_divergence_and_of_alp_the_cross_entropy():
    z = ops.convert_to_tensor(np.array([[1.0, 2.0, 0.5]], "float32"))
    q = ops.softmax(ops.convert_to_tensor(np.array([[0.0, 1.0, 3.0]], "float32")))
    expected = kl_divergence()(q, z)
    assert float(ops.convert_to_numpy(build_training_method("trades", eps=0.1).loss_fn(q, z))) == pytest.approx(
        float(ops.convert_to_numpy(expected)))
    label = ops.convert_to_tensor(np.array([2]))
    assert float(ops.convert_to_numpy(build_training_method("alp", eps=0.1).loss_fn(label, z))) == pytest.approx(
        float(ops.convert_to_numpy(cross_entropy()(label, z))))
