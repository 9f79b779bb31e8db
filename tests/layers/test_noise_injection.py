import keras
import numpy as np
import pytest

from kerobust.layers import GaussianNoiseInjection, NoisyConv2D, NoisyDense
from kerobust.training.optimizers import build_optimizer
from tests.keras_citizenship import check_citizenship, classifier_around, wrap


@pytest.mark.smoke
def test_input_noise_has_the_requested_spread_at_inference():
    x = np.zeros((4000, 5), "float32")
    layer = GaussianNoiseInjection(0.3, seed=0)
    first, second = np.asarray(layer(x)), np.asarray(layer(x))
    assert abs(first.std() - 0.3) < 0.01 and abs(first.mean()) < 0.01
    assert not np.allclose(first, second)  # fresh noise at every call, also at inference


@pytest.mark.smoke
def test_input_noise_switched_off_is_the_identity():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(GaussianNoiseInjection(0.3, enabled=False)(x)), x)
    np.testing.assert_array_equal(np.asarray(GaussianNoiseInjection(0.0)(x)), x)


def _dense_weight_noise(layer, units_in):
    """The noisy kernel minus the kernel, read off by feeding the identity matrix (bias removed)."""
    out = np.asarray(layer(np.eye(units_in, dtype="float32")))
    return out - np.asarray(layer.kernel) - np.asarray(layer.bias)


@pytest.mark.smoke
@pytest.mark.parametrize("granularity", ["layerwise", "channelwise", "elementwise"])
def test_weight_noise_is_scale_times_std_of_the_weights(granularity):
    layer = NoisyDense(4, granularity=granularity, seed=1)
    layer.build((None, 3000))
    rng = np.random.default_rng(0)
    scales = {
        "layerwise": np.float32(0.5),
        "channelwise": np.array([0.1, 0.2, 0.4, 0.8], "float32"),
        "elementwise": rng.uniform(0.1, 1.0, size=(3000, 4)).astype("float32"),  # varies along rows and columns
    }[granularity]
    layer.noise_scale.assign(scales)
    noise = _dense_weight_noise(layer, 3000)
    kernel = np.asarray(layer.kernel, "float64")
    standardised = noise / (np.broadcast_to(scales, noise.shape) * kernel.std(ddof=1))
    np.testing.assert_allclose(standardised.std(axis=0), 1.0, rtol=0.05)
    assert abs(standardised.mean()) < 0.05


@pytest.mark.smoke
def test_noisy_layers_without_noise_equal_the_plain_layers():
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    noisy = NoisyConv2D(4, 3, padding="same", noise_enabled=False)
    plain = keras.layers.Conv2D(4, 3, padding="same")
    noisy.build(x.shape), plain.build(x.shape)
    plain.set_weights([np.asarray(noisy.kernel), np.asarray(noisy.bias)])
    np.testing.assert_array_equal(np.asarray(noisy(x)), np.asarray(plain(x)))


def test_noise_scale_is_excluded_from_weight_decay():
    layer = NoisyConv2D(2, 3, seed=0)
    layer.build((None, 4, 4, 1))
    optimizer = build_optimizer("sgd", lr=0.1, weight_decay=0.5)
    kernel, scale = np.asarray(layer.kernel), np.asarray(layer.noise_scale)
    variables = [layer.kernel, layer.noise_scale]
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in variables])
    np.testing.assert_allclose(np.asarray(layer.kernel), kernel * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer.noise_scale), scale)


def test_noise_scale_gets_a_gradient_and_trains(tmp_path):
    x = np.random.default_rng(3).uniform(size=(16, 6, 6, 2)).astype("float32")
    model = classifier_around(NoisyConv2D(4, 3, granularity="layerwise", seed=3), (6, 6, 2))
    check_citizenship(model, x, tmp_path)


def test_reload_restores_the_noise_stream(tmp_path):
    # The seed generator's state is saved, so a reloaded model draws the same noise on its next call.
    x = np.eye(6, dtype="float32")
    model = wrap(NoisyDense(3, seed=5), (6,))
    model.save(tmp_path / "noisy.keras")
    reloaded = keras.saving.load_model(tmp_path / "noisy.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))


def test_input_noise_citizenship(tmp_path):
    x = np.random.default_rng(4).uniform(size=(16, 32)).astype("float32")  # 16 points in 32 dimensions: separable
    model = classifier_around(GaussianNoiseInjection(0.05, seed=1), (32,))
    check_citizenship(model, x, tmp_path)


def test_unknown_granularity_is_a_clear_error():
    from kerobust.errors import KerobustError

    with pytest.raises(KerobustError, match="Did you mean 'channelwise'"):
        NoisyDense(3, granularity="channelwize")


def test_an_attack_leaves_the_next_call_a_fresh_noise_draw():
    from kerobust.attacks import PGD

    model = classifier_around(GaussianNoiseInjection(0.1, seed=2), (5,))
    x = np.random.default_rng(5).uniform(size=(4, 5)).astype("float32")
    state = np.asarray(model.layers[1].noise_state)
    PGD(eps=0.1, steps=2, step_size=0.05)(model, x, np.zeros(4, "int64"))
    assert np.asarray(model.layers[1].noise_state)[1] > state[1]


def test_random_layers_names_every_layer_that_draws_at_inference():
    from kerobust.layers.noise_injection import random_layers
    from kerobust.models import build_model

    def build(arch, **options):
        return build_model(arch, (8, 8, 1), 10, (0.5,), (0.3,), **options)

    assert random_layers(build("basicnet", width=4)) == []
    noisy_input = build("basicnet", width=4, input_noise=0.1)
    assert [type(noisy_input.get_layer(name)) for name in random_layers(noisy_input)] == [GaussianNoiseInjection]
    noisenet = build("noisenet20")
    assert len(random_layers(noisenet)) == 20  # 19 convolutions and the dense layer
    for layer in noisenet.layers:
        if hasattr(layer, "noise_enabled"):
            layer.noise_enabled = False
    assert random_layers(noisenet) == []
