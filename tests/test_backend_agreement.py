"""The same saved weights give the same outputs (to 1e-4) on the TensorFlow and JAX backends, for every kerobust
layer and architecture (random layers with their noise switched off)."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerobust.layers import ConvNorm, GaussianNoiseInjection, GroupedConv2D, LocalResponseNormalization, NoisyConv2D
from kerobust.models import architectures, build_model

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")


def _layer_model(layer, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def _cases():
    cases = {arch: build_model(arch, (8, 8, 1), 10, (0.5,), (0.3,)) for arch in architectures()}
    for norm in ("none", "convnorm", "bn+convnorm"):
        cases[f"wrn-{norm}"] = build_model("wrn", (8, 8, 1), 10, (0.5,), (0.3,), norm=norm)
    cases["convnorm-stride2-valid"] = _layer_model(ConvNorm(5, (3, 2), strides=2, padding="valid"), (9, 8, 3))
    cases["convnorm-fft-grid"] = _layer_model(ConvNorm(4, 3, strides=2), (16, 16, 2))
    cases["convnorm-pointwise"] = _layer_model(ConvNorm(5, 1, batch_norm=False), (6, 6, 3))
    cases["lrn"] = _layer_model(LocalResponseNormalization(k=1.0, n=3, alpha=0.3), (5, 5, 6))
    cases["grouped"] = _layer_model(GroupedConv2D(6, 3, strides=2, groups=3, padding="same"), (7, 7, 6))
    cases["noisy-conv-off"] = _layer_model(NoisyConv2D(4, 3, noise_enabled=False), (6, 6, 2))
    cases["input-noise-off"] = _layer_model(GaussianNoiseInjection(0.5, enabled=False), (4,))
    return cases


def _switch_noise_off(model):
    for layer in model.layers:
        if hasattr(layer, "noise_enabled"):
            layer.noise_enabled = False


def test_tensorflow_and_jax_agree(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("runs from the TensorFlow leg and starts JAX in a subprocess")
    rng = np.random.default_rng(0)
    expected = {}
    for name, model in _cases().items():
        _switch_noise_off(model)
        x = rng.uniform(size=(4, *model.input_shape[1:])).astype("float32")
        model(x, training=True)  # moves batch-norm statistics and ConvNorm's running estimate off their start
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.x.npy", x)
        expected[name] = np.asarray(model(x, training=False))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-m", "tests.jax_outputs", str(tmp_path)], check=True, env=env, timeout=600)
    for name, tf_out in expected.items():
        jax_out = np.load(tmp_path / f"{name}.jax.npy")
        np.testing.assert_allclose(jax_out, tf_out, atol=1e-4, rtol=1e-4, err_msg=name)
