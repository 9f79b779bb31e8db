"""Norm decay (Algorithm 1 of Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness"):
the subgradient against finite differences of the dense matrix's norm, one optimizer step against the hand-computed
update, every training method, and a lower targeted norm after training."""

import keras
import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.norms import layer_norms
from kerobust.regularizers import NormDecay
from kerobust.training import AdversarialModel, build_training_method
from tests.norms.dense_conv import numpy_dense_matrix


def _dense_norm(matrix, norm):
    return np.abs(matrix).sum(axis=0).max() if norm == "l1" else np.abs(matrix).sum(axis=1).max()


def _finite_difference_subgradient(kernel, size, strides, padding, norm, h=1e-4):
    """d ||conv||_p / d K by central differences of the dense matrix's norm (exact at a generic kernel, where the
    norm is linear in K around it)."""
    grad = np.zeros(kernel.shape)
    for index in np.ndindex(kernel.shape):
        up, down = kernel.astype("float64"), kernel.astype("float64")
        up[index] += h
        down[index] -= h
        grad[index] = (_dense_norm(numpy_dense_matrix(up, size, strides, padding), norm)
                       - _dense_norm(numpy_dense_matrix(down, size, strides, padding), norm)) / (2 * h)
    return grad


def _conv_model(kernel, size, strides, padding):
    inputs = keras.Input((*size, kernel.shape[2]))
    conv = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=strides, padding=padding, use_bias=False)
    model = keras.Model(inputs, keras.layers.Flatten()(conv(inputs)))
    conv.set_weights([kernel])
    return model, conv


# Stride at least the kernel size (a bug of the reference code) and a non-square kernel (another) are included.
CONFIGS = [
    ((3, 3, 2, 3), (6, 6), (1, 1), "same"),
    ((2, 2, 2, 2), (7, 7), (2, 2), "valid"),
    ((2, 3, 2, 2), (6, 7), (3, 3), "same"),
    ((3, 2, 1, 3), (5, 6), (2, 1), "valid"),
]


@pytest.mark.smoke
@pytest.mark.parametrize("shape,size,strides,padding", CONFIGS)
@pytest.mark.parametrize("norm", ["l1", "linf"])
def test_subgradient_matches_finite_differences_of_the_dense_matrix_norm(shape, size, strides, padding, norm):
    kernel = np.random.default_rng(sum(shape)).normal(size=shape).astype("float32")
    model, conv = _conv_model(kernel, size, strides, padding)
    decay = NormDecay(norm, beta=2.0, gamma=0.0)
    [(layer, fn)] = decay.targets(model)
    [increment], [momentum] = decay.step([keras.ops.convert_to_tensor(kernel)], [np.zeros(shape, "float32")], [fn])
    expected = _finite_difference_subgradient(kernel, size, strides, padding, norm)
    np.testing.assert_allclose(np.asarray(momentum), expected, atol=2e-3)
    np.testing.assert_allclose(np.asarray(increment), 2.0 * expected, atol=4e-3)  # beta / N with N = 1


@pytest.mark.smoke
def test_momentum_is_the_moving_average_of_line_5():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 2)).astype("float32")
    model, _ = _conv_model(kernel, (5, 5), (1, 1), "same")
    decay = NormDecay("linf", beta=0.1, gamma=0.75)
    [(_, fn)] = decay.targets(model)
    h0 = np.random.default_rng(2).normal(size=kernel.shape).astype("float32")
    [increment], [h1] = decay.step([keras.ops.convert_to_tensor(kernel)], [h0], [fn])
    p = _finite_difference_subgradient(kernel, (5, 5), (1, 1), "same", "linf")
    np.testing.assert_allclose(np.asarray(h1), 0.75 * h0 + 0.25 * p, atol=1e-3)
    np.testing.assert_allclose(np.asarray(increment), 0.1 * np.asarray(h1), rtol=1e-6)


def _dense_net(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="hidden"),
                             keras.layers.Dense(3, name="out")])


@pytest.mark.smoke
@pytest.mark.parametrize("norm", ["l1", "linf"])
def test_one_sgd_step_adds_beta_over_n_times_the_averaged_subgradient(norm):
    """Plain SGD, h = 0 at start: W_nd = W_plain - lr * beta / N * (1 - gamma) * p, with p the sign of W on the
    argmax column (l1: the input row of largest abs-sum of W (in, out); l-inf: the output column)."""
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    y = np.arange(16) % 3
    lr, beta, gamma = 0.1, 0.3, 0.25
    kernels = {}
    for decay in (None, NormDecay(norm, beta, gamma)):
        net = _dense_net()
        trainer = AdversarialModel(net, build_training_method("natural", 0.0), norm_decay=decay)
        trainer.compile(keras.optimizers.SGD(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = [np.asarray(layer.kernel) for layer in net.layers]
        trainer.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        kernels[decay is None] = [np.asarray(layer.kernel) for layer in net.layers]
    for w0, plain, decayed in zip(start, kernels[True], kernels[False]):
        p = np.zeros_like(w0)
        if norm == "l1":
            row = np.abs(w0).sum(axis=1).argmax()
            p[row] = np.sign(w0[row])
        else:
            column = np.abs(w0).sum(axis=0).argmax()
            p[:, column] = np.sign(w0[:, column])
        np.testing.assert_allclose(decayed, plain - lr * beta / 2 * (1 - gamma) * p, atol=1e-6)


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("method,options", [
    ("fgsm", {}), ("pgd", {"steps": 2}), ("free", {"replays": 2}), ("mat-rand", {"steps": 2, "l2_eps": 0.5}),
])
def test_every_training_method_moves_the_momenta_and_zero_beta_changes_nothing(method, options, tiny_digits):
    from kerobust.models import build_model

    x, y, _, _ = tiny_digits
    results = {}
    for beta in (None, 0.0, 1e-2):
        keras.utils.set_random_seed(0)
        net = build_model("basicnet", x.shape[1:], 10, 0.0, 1.0, width=4)
        decay = None if beta is None else NormDecay("linf", beta, 0.5)
        trainer = AdversarialModel(net, build_training_method(method, 0.1, **options), batch_size=64, norm_decay=decay)
        # The wrapper's variables are the classifier's, in the same order, plus its own state (no duplicated kernels).
        assert [v.path for v in trainer.trainable_variables] == [v.path for v in net.trainable_variables]
        trainer.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        results[beta] = ([np.asarray(w) for w in net.weights], [np.asarray(h) for h in trainer.norm_decay_momenta])
    assert len(results[1e-2][1]) == 6 and all(np.abs(h).max() > 0 for h in results[1e-2][1])  # 4 convs + 2 dense
    for plain, zero in zip(results[None][0], results[0.0][0]):
        np.testing.assert_allclose(zero, plain, atol=1e-6)
    assert any(np.abs(a - b).max() > 1e-6 for a, b in zip(results[None][0], results[1e-2][0]))


def test_norm_decay_lowers_the_targeted_norm_during_training(digits):
    """Liang & Huang (2021): 'as the regularization becomes stronger, the norm of all layers becomes smaller'."""
    from kerobust.models import build_model

    means = {}
    for decay in (None, NormDecay("linf", 3e-2, 0.5), NormDecay("l1", 3e-2, 0.5)):
        keras.utils.set_random_seed(0)
        net = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
        trainer = AdversarialModel(net, build_training_method("natural", 0.0), norm_decay=decay)
        trainer.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.fit(digits.x_train, digits.y_train, batch_size=64, epochs=3, verbose=0)
        rows = layer_norms(net)
        means[decay and decay.norm] = {n: np.mean([getattr(r, n) for r in rows]) for n in ("l1", "linf")}
    assert means["linf"]["linf"] < 0.9 * means[None]["linf"]
    assert means["l1"]["l1"] < 0.9 * means[None]["l1"]


@pytest.mark.smoke
@pytest.mark.parametrize("kwargs,message", [
    ({"norm": "l2"}, "unknown norm decay norm 'l2'"), ({"beta": -1.0}, "beta must be finite and >= 0"),
    ({"gamma": 1.0}, "gamma (momentum) must be in [0, 1)"), ({"beta": float("nan")}, "beta must be finite"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(KerobustError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        NormDecay(**kwargs)


@pytest.mark.smoke
def test_frozen_layers_are_left_out():
    net = _dense_net()
    net.get_layer("hidden").trainable = False
    trainer = AdversarialModel(net, build_training_method("natural", 0.0), norm_decay=NormDecay())
    assert [k.path for k in trainer.norm_decay_kernels.value] == [net.get_layer("out").kernel.path]


@pytest.mark.smoke
def test_under_loss_scaling_one_step_equals_the_unscaled_one_and_the_reported_loss_is_the_plain_loss():
    """Norm decay is a loss term (value 0, gradient beta / N h): a LossScaleOptimizer scales and unscales it with the
    rest, and the logged loss is the cross-entropy alone."""
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    y = np.arange(16) % 3
    kernels, losses = {}, {}
    for name, optimizer in (("plain", keras.optimizers.SGD(0.1)),
                            ("scaled", keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)))):
        for decay in (None, NormDecay("l1", 0.3, 0.25)):
            net = _dense_net()
            trainer = AdversarialModel(net, build_training_method("natural", 0.0), norm_decay=decay)
            trainer.compile(optimizer if decay else keras.optimizers.SGD(0.1),
                            keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = trainer.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
            kernels[name, decay is None] = [np.asarray(layer.kernel) for layer in net.layers]
            losses[name, decay is None] = history["loss"][0]
    for scaled, plain in zip(kernels["scaled", False], kernels["plain", False]):
        np.testing.assert_allclose(scaled, plain, atol=1e-6)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(kernels["plain", False], kernels["plain", True]))
    assert losses["plain", False] == pytest.approx(losses["plain", True], rel=1e-6)


@pytest.mark.smoke
def test_a_model_without_linear_layers_is_refused():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.MaxPooling2D()])
    with pytest.raises(KerobustError, match="no trainable Conv2D or Dense layer"):
        AdversarialModel(model, build_training_method("natural", 0.0), norm_decay=NormDecay())
