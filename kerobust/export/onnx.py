"""ONNX export through Keras's own exporter (`model.export(format="onnx")`: tf2onnx on TensorFlow, jax2onnx on JAX),
checked against the Keras model with onnxruntime. The graph takes `images` (float32 in [0, 1], [N, H, W, C]) and
gives `logits`: the model's forward pass; certification is served by the SavedModel's `certify` signature."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import keras

from kerobust.atomic_files import atomic_path, require_space, variables_bytes, write_errors_as_user_errors
from kerobust.errors import KerobustError
from kerobust.layers import ConvNorm
from kerobust.layers.noise_injection import all_layers, random_layers
from kerobust.output_paths import WRITER_KEY, writer

if TYPE_CHECKING:
    from kerobust.types import Array, ArrayLike

INSTALL_HINT = "pip install 'kerobust[onnx]'"


def _converter():
    """The package Keras's exporter converts with on this backend."""
    return "jax2onnx" if keras.backend.backend() == "jax" else "tf2onnx"


def require_onnx_tools() -> None:
    """A clear error, before any work, unless the converter of this backend and onnxruntime are installed."""
    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise KerobustError(f"ONNX export runs on the TensorFlow and JAX backends, not {keras.backend.backend()!r}.")
    missing = [name for name in (_converter(), "onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise KerobustError(f"ONNX export needs {', '.join(missing)}: {INSTALL_HINT}.")


def onnx_refusal(model: keras.Model) -> str | None:
    """Why `model` cannot go to ONNX, or None. Noise layers draw with stateless random ops, which ONNX lacks (its
    RandomNormal has no seed input), so a randomised model is refused rather than exported with frozen noise."""
    random = random_layers(model)
    if random:
        named = ", ".join(random[:3]) + (f" and {len(random) - 3} more" if len(random) > 3 else "")
        subject = f"layer {named} is" if len(random) == 1 else f"layers {named} are"
        return (f"{subject} random at inference and ONNX has no stateless random ops; export a SavedModel instead "
                "(it draws fresh noise per request)")
    return None


@contextlib.contextmanager
def onnx_compatible(model: keras.Model) -> Iterator[None]:
    """Traces `model` in ONNX-convertible form, numerically the same, and restores it afterwards:
    * `Normalization`'s mean and variance as NumPy arrays, so they become graph constants (as eager tensors
      captured by the traced function, tf2onnx makes them extra required graph inputs);
    * ConvNorm's large-grid filter by DFT matmuls instead of FFTs (tf2onnx has no IRFFT2D)."""
    normalizations, conv_norms = [], []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None:
            normalizations.append((layer, layer.mean, layer.variance))
            layer.mean = keras.ops.convert_to_numpy(layer.mean)
            layer.variance = keras.ops.convert_to_numpy(layer.variance)
        elif isinstance(layer, ConvNorm):
            conv_norms.append((layer, layer.use_fft))
            layer.use_fft = False
    try:
        yield
    finally:
        for layer, mean, variance in normalizations:
            layer.mean, layer.variance = mean, variance
        for layer, use_fft in conv_norms:
            layer.use_fft = use_fft


def _name_graph_values(path):
    """Names the ONNX graph's single input `images` and single output `logits` everywhere they appear, and stamps the
    file with the command that wrote it."""
    import onnx

    proto = onnx.load(path)
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise KerobustError(f"the ONNX graph has inputs {[v.name for v in graph.input]} and outputs "
                            f"{[v.name for v in graph.output]}; expected one image input and one output.")
    renames = {graph.input[0].name: "images", graph.output[0].name: "logits"}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
    stamp = proto.metadata_props.add()
    stamp.key, stamp.value = WRITER_KEY, writer()
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def onnx_outputs(path: str, images: ArrayLike) -> Array:
    """Runs the ONNX model at `path` on `images` with onnxruntime (CPU) and returns its logits."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes on initializers the optimiser drops
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"images": np.asarray(images, dtype="float32")})[0]


@contextlib.contextmanager
def _quiet_converter():
    """Keeps the converters' notes (tf2onnx's frozen-graph shape notes, NumPy deprecations) out of the output."""
    import logging
    import warnings

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: keras.Model, path: str, probe_inputs: ArrayLike) -> float:
    """Atomically writes `model` as the ONNX file `path` (opset chosen by the converter) and checks its logits on
    `probe_inputs` against the Keras model's (`saved_model.tolerance`). Returns the largest absolute difference."""
    from kerobust.export.saved_model import check_close

    require_onnx_tools()
    refusal = onnx_refusal(model)
    if refusal:
        raise KerobustError(f"cannot export {model.name!r} to ONNX: {refusal}.")
    require_space(os.path.dirname(os.path.abspath(path)), 3 * variables_bytes(model.weights), f"the ONNX model {path}")
    with write_errors_as_user_errors(f"the ONNX model {path}"), atomic_path(path) as temporary:
        reference = keras.ops.convert_to_numpy(model(probe_inputs, training=False))  # also: Keras exports called models
        with onnx_compatible(model), _quiet_converter():
            model.export(temporary, format="onnx", verbose=False)
        _name_graph_values(temporary)
        try:
            outputs = onnx_outputs(temporary, probe_inputs)
        except Exception as error:  # an op the converter left unconverted, or one onnxruntime cannot run
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            hint = (" Export from the TensorFlow backend (KERAS_BACKEND=tensorflow: the .keras file is the same), "
                    "whose tf2onnx converts every kerobust architecture." if keras.backend.backend() == "jax" else "")
            raise KerobustError(f"the ONNX model that {_converter()} wrote does not run in onnxruntime "
                                f"({first_line[:300]}); nothing was written.{hint}") from None
        mismatch = check_close(reference, outputs, "exported ONNX model")
    return mismatch
