"""Export of a trained classifier: a `.keras` file and a SavedModel for serving, each verified on reload."""

import keras
import numpy as np

from kerobust.atomic_files import atomic_path
from kerobust.backend.saved_model import saved_model_outputs
from kerobust.errors import KerobustError

TOLERANCE = 1e-5


def _check_close(reference, outputs, what):
    error = float(np.max(np.abs(reference - outputs))) if reference.size else 0.0
    if not error <= TOLERANCE:
        raise KerobustError(f"{what} differs from the trained model by {error:.2e} (> {TOLERANCE:g}); nothing was replaced.")
    return error


def save_keras(model, path, probe_inputs):
    """Atomically saves `model` as a `.keras` file and checks the reloaded copy's outputs on `probe_inputs`.

    The reference outputs are computed after saving, so a randomised model (noise layers) and its reloaded copy
    start from the same saved noise-generator state and draw the same noise.
    """
    with atomic_path(path) as temporary:
        model.save(temporary)
        reference = keras.ops.convert_to_numpy(model(probe_inputs, training=False))
        reloaded = keras.saving.load_model(temporary)
        error = _check_close(reference, keras.ops.convert_to_numpy(reloaded(probe_inputs, training=False)), "reloaded .keras model")
    return error


def export_saved_model(model, path, probe_inputs):
    """Atomically exports `model` as a SavedModel (endpoint `serve`) and checks its outputs to 1e-5.

    Returns:
        The largest absolute output difference on `probe_inputs`.
    """
    with atomic_path(path) as temporary:
        model.export(temporary, format="tf_saved_model", verbose=False)
        reference = keras.ops.convert_to_numpy(model(probe_inputs, training=False))  # after export: see save_keras
        error = _check_close(reference, saved_model_outputs(temporary, probe_inputs), "exported SavedModel")
    return error
