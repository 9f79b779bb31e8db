"""The same saved model gives the same bounds (1e-5 relative to the case's largest bound) on TensorFlow and JAX, in
both modes (float64 evaluation: in float32 the margin of two close logits keeps fewer digits than that; a point whose
logits nearly tie has a bound 100x below the others, whose last digits vary with the CPU's summation order)."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")

CASES = {"lenet5_lrn3": ("thesis", "sound"), "lenet5": ("thesis", "sound"), "resnet20": ("sound",),
         "basicnet": ("thesis", "sound"), "wrn:bn+convnorm": ("sound",)}


def test_tensorflow_and_jax_give_the_same_bounds(tmp_path, digits):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("runs from the TensorFlow leg and starts JAX in a subprocess")
    from kerobust.models import build_model

    x = digits.x_test[:32]
    expected = {}
    for case, modes in CASES.items():
        keras.utils.set_random_seed(0)
        arch, _, norm = case.partition(":")
        model = build_model(arch, digits.input_shape, 10, digits.mean, digits.std, **({"norm": norm} if norm else {}))
        # moves batch-norm statistics and ConvNorm's running v off their start
        model(digits.x_train[:64], training=True)
        stem = case.replace(":", "_").replace("+", "_")
        model.save(tmp_path / f"{stem}.keras")
        np.save(tmp_path / f"{stem}.x.npy", x)
        (tmp_path / f"{stem}.modes").write_text(" ".join(modes))
        for mode in modes:
            expected[stem, mode] = BoundEvaluator(model, mode, dtype="float64")(x)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1"}
    subprocess.run([sys.executable, "-m", "tests.bounds.jax_bounds", str(tmp_path)], check=True, env=env, timeout=600)
    for (stem, mode), tf_bounds in expected.items():
        jax_bounds = np.load(tmp_path / f"{stem}.{mode}.jax.npy")
        scale = float(np.max(np.abs(tf_bounds)))
        np.testing.assert_allclose(jax_bounds, tf_bounds, rtol=1e-5, atol=1e-5 * scale, err_msg=f"{stem} {mode}")
