"""ONNX export through Keras's exporter: the graph runs in onnxruntime with the Keras model's logits, ConvNorm's
large grids and the input normalisation included; randomised models and missing tools are refused up front."""

import importlib.util

import keras
import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.export import export_onnx
from kerobust.export.onnx import INSTALL_HINT, onnx_outputs, require_onnx_tools
from kerobust.layers import ConvNorm
from kerobust.models import build_model

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="checked with tf2onnx; jax2onnx 0.17 cannot convert max pooling")


def _images(count, shape, seed):
    return np.random.default_rng(seed).uniform(size=(count, *shape)).astype("float32")


def test_basicnet_logits_match_keras_on_fresh_images(tmp_path):
    model = build_model("basicnet", (8, 8, 1), 10, [0.3], [0.4])
    path = str(tmp_path / "model.onnx")
    assert export_onnx(model, path, _images(4, (8, 8, 1), 0)) < 1e-5
    fresh = _images(7, (8, 8, 1), 1)  # another batch size and other images than the probe
    np.testing.assert_allclose(onnx_outputs(path, fresh), keras.ops.convert_to_numpy(model(fresh)), atol=1e-5)


def test_convnorm_exports_without_ffts_and_the_model_is_restored_afterwards(tmp_path):
    import onnx

    # 16 x 16 inputs put ConvNorm's 3x3 grids at 18 x 18 = 324 points, past the dense form: the FFT path in Keras.
    model = build_model("wrn", (16, 16, 3), 10, [0.5] * 3, [0.25] * 3, k=1, norm="bn+convnorm")
    model(_images(4, (16, 16, 3), 2), training=True)  # a running estimate, as after training
    path = str(tmp_path / "model.onnx")
    export_onnx(model, path, _images(3, (16, 16, 3), 3))
    graph = onnx.load(path).graph
    assert [v.name for v in graph.input] == ["images"] and [v.name for v in graph.output] == ["logits"]
    assert not {node.op_type for node in graph.node} & {"DFT", "RFFT2D", "IRFFT2D"}
    fresh = _images(5, (16, 16, 3), 4)
    np.testing.assert_allclose(onnx_outputs(path, fresh), keras.ops.convert_to_numpy(model(fresh)), atol=1e-5)
    conv_norms = [layer for layer in model._flatten_layers() if isinstance(layer, ConvNorm)]
    assert conv_norms and all(layer.use_fft for layer in conv_norms)
    normalization = model.get_layer("input_normalization")
    assert not isinstance(normalization.mean, np.ndarray)


def test_a_model_with_noise_layers_is_refused_and_nothing_written(tmp_path):
    model = build_model("basicnet", (8, 8, 1), 10, [0.3], [0.4], input_noise=0.1)
    with pytest.raises(KerobustError, match="layer input_noise is random at inference"):
        export_onnx(model, str(tmp_path / "model.onnx"), _images(2, (8, 8, 1), 0))
    assert list(tmp_path.iterdir()) == []


def test_missing_converter_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(KerobustError, match="needs onnxruntime") as error:
        require_onnx_tools()
    assert INSTALL_HINT in str(error.value)
