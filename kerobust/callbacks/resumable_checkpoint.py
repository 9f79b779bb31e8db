"""Epoch checkpoints that survive a killed run: written atomically, restored by the same command."""

import json
import os
import shutil

import keras

from kerobust.atomic_files import write_text

_WEIGHTS = "state.weights.h5"
_META = "progress.json"
_POINTER = "LATEST"


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves the training model's weights, optimizer state, epoch count and metric history after every epoch.

    Each epoch goes to its own folder `epoch-NNNN`; only when it is complete does the `LATEST` file (replaced in one
    atomic rename) point to it, and older folders are removed. A run killed at any moment keeps the last complete
    checkpoint and loses at most the epoch in progress. Call `restore()` before `fit` and pass the returned epoch
    count as `initial_epoch`.

    Args:
        directory: checkpoint folder (created on first save).
    """

    def __init__(self, directory):
        super().__init__()
        self.directory = directory
        self.history = {}

    def _latest(self):
        pointer = os.path.join(self.directory, _POINTER)
        if not os.path.isfile(pointer):
            return None
        with open(pointer, encoding="utf-8") as handle:
            folder = os.path.join(self.directory, handle.read().strip())
        return folder if os.path.isfile(os.path.join(folder, _META)) else None

    def completed_epochs(self):
        """Epochs recorded in the checkpoint (0 when there is none)."""
        folder = self._latest()
        if folder is None:
            return 0
        with open(os.path.join(folder, _META), encoding="utf-8") as handle:
            return int(json.load(handle)["epochs_completed"])

    def restore(self, model):
        """Loads the checkpoint into `model` (optimizer included); returns the number of completed epochs."""
        folder = self._latest()
        if folder is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(folder, _WEIGHTS))
        with open(os.path.join(folder, _META), encoding="utf-8") as handle:
            meta = json.load(handle)
        self.history = meta.get("history", {})
        return int(meta["epochs_completed"])

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        name = f"epoch-{epoch + 1:04d}"
        folder = os.path.join(self.directory, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.model.save_weights(os.path.join(folder, _WEIGHTS))
        write_text(os.path.join(folder, _META), json.dumps({"epochs_completed": epoch + 1, "history": self.history}))
        write_text(os.path.join(self.directory, _POINTER), name)
        for other in os.listdir(self.directory):
            if other.startswith("epoch-") and other != name:
                shutil.rmtree(os.path.join(self.directory, other), ignore_errors=True)
