"""Export of a trained classifier: a `.keras` file and a SavedModel for serving, each verified on reload."""

from __future__ import annotations

import keras
import numpy as np

import os
from typing import TYPE_CHECKING

from kerobust.atomic_files import atomic_path, require_space, variables_bytes, write_errors_as_user_errors
from kerobust.backend.saved_model import saved_model_outputs
from kerobust.errors import KerobustError
from kerobust.output_paths import mark_saved_model

if TYPE_CHECKING:
    from kerobust.types import Array, ArrayLike

# Outputs of a reloaded copy may differ from the trained model's by float32 rounding that grows with depth (another
# kernel order, oneDNN in the SavedModel): measured 1.4e-5 on a 1-epoch ResNet-18. The check is relative to the
# logits' scale and still 1e4 times finer than any real mismatch (a lost or reordered weight moves logits by O(1)).
RELATIVE_TOLERANCE = 1e-4


def tolerance(reference: Array) -> float:
    """The largest difference accepted between a model's outputs `reference` and a reloaded copy's."""
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return RELATIVE_TOLERANCE * max(1.0, scale)


def check_close(reference: Array, outputs: Array, what: str) -> float:
    error = float(np.max(np.abs(reference - outputs))) if reference.size else 0.0
    limit = tolerance(reference)
    if not error <= limit:
        raise KerobustError(f"{what} differs from the trained model by {error:.2e} (> {limit:.2e}, "
                            f"{RELATIVE_TOLERANCE:g} of the largest logit); nothing was replaced.")
    return error


def save_keras(model: keras.Model, path: str, probe_inputs: ArrayLike) -> float:
    """Atomically saves `model` as a `.keras` file and checks the reloaded copy's outputs on `probe_inputs`.

    The reference outputs are computed after saving, so a randomised model (noise layers) and its reloaded copy
    start from the same saved noise-generator state and draw the same noise.
    """
    require_space(os.path.dirname(os.path.abspath(path)), 2 * variables_bytes(model.weights), f"the model {path}")
    with write_errors_as_user_errors(f"the model {path}"), atomic_path(path) as temporary:
        model.save(temporary)
        reference = keras.ops.convert_to_numpy(model(probe_inputs, training=False))
        reloaded = keras.saving.load_model(temporary)
        error = check_close(reference, keras.ops.convert_to_numpy(reloaded(probe_inputs, training=False)),
                            "reloaded .keras model")
    return error


def add_serving_endpoints(archive: keras.export.ExportArchive, model: keras.Model, threat_norm: str = "linf",
                          eps: float | None = None) -> list[str] | str:
    """Registers on a `keras.export.ExportArchive` tracking `model`:
    * `serve`: images -> logits (the endpoint `model.export` writes);
    * `serving_default`: images -> {"logits", "probabilities", "class"} (for a model that ends in a softmax, its
      outputs are the probabilities and their log the logits);
    * `certify`: images -> {"class", "certified", "margin_lower_bound"[, "certified_radius"]} at radius `eps`, and
      `certify_at_radius`: (images, radius) -> the same at a scalar radius (`ServingCertifier`), where a
      deterministic certifier applies and `eps` is given.
    Images are float32 in [0, 1], shape [None, H, W, C]. Returns the certifier's methods, or the reason it has none."""
    import tensorflow as tf

    from kerobust.bounds.lipschitz.evaluator import _is_softmax
    from kerobust.export.certifier import ServingCertifier

    images = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")

    def serve(images):
        return model(images, training=False)

    ends_in_softmax = _is_softmax(model.layers[-1]) or getattr(getattr(model.layers[-1], "activation", None),
                                                                  "__name__", "") == "softmax"

    def serving_default(images):
        outputs = model(images, training=False)
        if ends_in_softmax:  # the model's outputs are probabilities; their log is the logits up to a constant
            probabilities, logits = outputs, keras.ops.log(keras.ops.maximum(outputs, 1e-30))
        else:
            probabilities, logits = keras.ops.softmax(outputs, axis=-1), outputs
        return {"logits": logits, "probabilities": probabilities,
                "class": keras.ops.cast(keras.ops.argmax(outputs, axis=-1), "int32")}

    archive.add_endpoint("serve", serve, input_signature=[images])
    archive.add_endpoint("serving_default", serving_default, input_signature=[images])
    if eps is None:
        return "no certification radius given"
    try:
        certifier = ServingCertifier(model, threat_norm)
    except KerobustError as error:
        return str(error)
    radius = tf.TensorSpec((), tf.float32, name="radius")
    at_radius = archive.add_endpoint("certify_at_radius", lambda images, radius: certifier(images, radius),
                                     input_signature=[images, radius])
    if keras.backend.backend() == "tensorflow":
        # One traced certifier serves both signatures: `certify` calls `certify_at_radius` at a constant radius, so
        # the bound graphs (the costly part of an export) are traced once per signature pass, not twice. (On JAX an
        # endpoint is a jax2tf conversion that another endpoint cannot call.)
        archive.add_endpoint("certify", lambda images: at_radius(images, tf.constant(float(eps), tf.float32)),
                             input_signature=[images])
    else:
        archive.add_endpoint("certify", lambda images: certifier(images, float(eps)), input_signature=[images])
    return certifier.method_names


def export_saved_model(model: keras.Model, path: str, probe_inputs: ArrayLike, threat_norm: str = "linf",
                       eps: float | None = None) -> tuple[float, list[str] | str]:
    """Atomically exports `model` as a SavedModel with the endpoints of `add_serving_endpoints` and checks its
    `serve` outputs (see `tolerance`).

    Returns:
        `(largest absolute logit difference on probe_inputs, certifier methods or the reason there are none)`.
    """
    require_space(os.path.dirname(os.path.abspath(path)), 3 * variables_bytes(model.weights), f"the SavedModel {path}")
    with write_errors_as_user_errors(f"the SavedModel {path}"), atomic_path(path) as temporary:
        archive = keras.export.ExportArchive()
        archive.track(model)
        certification = add_serving_endpoints(archive, model, threat_norm, eps)
        archive.write_out(temporary, verbose=False)
        mark_saved_model(temporary)
        reference = keras.ops.convert_to_numpy(model(probe_inputs, training=False))  # after export: see save_keras
        error = check_close(reference, saved_model_outputs(temporary, probe_inputs), "exported SavedModel")
    return error, certification
