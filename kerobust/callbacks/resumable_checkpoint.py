"""Epoch checkpoints that survive a killed run: written atomically, restored by the same command."""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Protocol

import keras
import numpy as np

from kerobust.atomic_files import require_space, variables_bytes, write_errors_as_user_errors, write_text
from kerobust.errors import KerobustError

if TYPE_CHECKING:
    class _Stateful(Protocol):
        """What `ResumableCheckpoint.track` takes."""

        def get_state(self) -> Any: ...

        def set_state(self, state: Any) -> None: ...

_WEIGHTS = "state.weights.h5"
_META = "progress.json"
_POINTER = "LATEST"


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves the training model's weights, optimizer state, random states, epoch count, metric history and training
    time after every epoch, so that a resumed run continues exactly where the uninterrupted run would be.

    Keras's weight files leave out the `SeedGenerator` states (dropout's, for one): they go to `progress.json`, with
    the state of every object given to `track` (an object with `get_state()` and `set_state(state)`, such as the
    dashboard's time). Place the checkpoint after every callback that changes the model or its random state at the
    end of an epoch (validation draws noise-layer samples), so that the checkpoint holds what the next epoch sees.

    Each epoch goes to its own folder `epoch-NNNN`; only when it is complete does the `LATEST` file (replaced in one
    atomic rename) point to it; the previous epoch's folder is kept as a fallback and older ones are removed. A run
    killed at any moment keeps the last complete checkpoint and loses at most the epoch in progress. Call `restore()`
    before `fit` and pass the returned epoch count as `initial_epoch`. A disk too full for the next checkpoint stops
    training with one line, keeping the last one; a damaged checkpoint is named with the way back to the previous.

    Args:
        directory: checkpoint folder (created on first save).
    """

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0  # training time over every session of the run, up to the last checkpoint
        self._tracked: dict[str, _Stateful] = {}
        self._epoch_started: float | None = None

    def track(self, name: str, stateful: _Stateful) -> None:
        """Saves `stateful.get_state()` with every checkpoint and restores it with `set_state` (call before
        `restore`)."""
        self._tracked[name] = stateful

    def _latest(self):
        pointer = os.path.join(self.directory, _POINTER)
        if not os.path.isfile(pointer):
            return None
        try:
            with open(pointer, encoding="utf-8") as handle:
                name = handle.read().strip()
        except UnicodeDecodeError:
            name = ""
        folder = os.path.join(self.directory, name)
        if not name.startswith("epoch-") or not os.path.isfile(os.path.join(folder, _META)):
            raise self._damaged(pointer, "does not name a complete epoch folder")
        return folder

    def _damaged(self, path, problem):
        """The error for a damaged checkpoint file, with the way back to the previous complete epoch."""
        current = os.path.basename(os.path.dirname(path)) if path.endswith((_META, _WEIGHTS)) else None
        previous = sorted(name for name in os.listdir(self.directory) if name.startswith("epoch-") and name != current
                          and os.path.isfile(os.path.join(self.directory, name, _META)))
        pointer = os.path.join(self.directory, _POINTER)
        if previous:
            hint = f"resume from {previous[-1]} by writing {previous[-1]!r} into {pointer}"
        else:
            hint = f"remove {self.directory} to train from the start"
        return KerobustError(f"checkpoint file {path} is damaged ({problem}): {hint}, or pass another --run-dir.")

    def _meta(self, folder):
        path = os.path.join(folder, _META)
        try:
            with open(path, encoding="utf-8") as handle:
                meta = json.load(handle)
            return meta, int(meta["epochs_completed"])
        except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._damaged(path, type(error).__name__) from None

    def completed_epochs(self) -> int:
        """Epochs recorded in the checkpoint (0 when there is none)."""
        folder = self._latest()
        return 0 if folder is None else self._meta(folder)[1]

    def restore(self, model: keras.Model) -> int:
        """Loads the checkpoint into `model` (optimizer included); returns the number of completed epochs."""
        folder = self._latest()
        if folder is None:
            return 0
        meta, epochs = self._meta(folder)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        weights = os.path.join(folder, _WEIGHTS)
        try:
            model.load_weights(weights)
        except Exception as error:  # h5py and Keras raise OSError, ValueError, KeyError for truncated or foreign files
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise self._damaged(weights, message[:120]) from None
        self.history = meta.get("history", {})
        self.seconds = float(meta.get("seconds", 0.0))
        for variable, value in zip(_random_states(model), meta.get("random_states", [])):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        for name, state in meta.get("states", {}).items():
            if name in self._tracked:
                self._tracked[name].set_state(state)
        return epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self._epoch_started is not None:
            self.seconds += time.perf_counter() - self._epoch_started
        name = f"epoch-{epoch + 1:04d}"
        folder = os.path.join(self.directory, name)
        kept = f"The checkpoint of epoch {epoch} is kept; run the same command again to resume." if epoch else ""
        model = self.model
        require_space(self.directory, variables_bytes(model.variables) + variables_bytes(model.optimizer.variables),
                      f"the checkpoint of epoch {epoch + 1}")
        with write_errors_as_user_errors(f"the checkpoint of epoch {epoch + 1} in {self.directory}", kept):
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            model.save_weights(os.path.join(folder, _WEIGHTS))
            write_text(os.path.join(folder, _META), json.dumps({
                "epochs_completed": epoch + 1, "history": self.history, "seconds": self.seconds,
                "random_states": [np.asarray(v).tolist() for v in _random_states(model)],
                "states": {name: stateful.get_state() for name, stateful in self._tracked.items()},
            }))
            write_text(os.path.join(self.directory, _POINTER), name)
        previous = f"epoch-{epoch:04d}"
        for other in os.listdir(self.directory):
            if other.startswith("epoch-") and other not in (name, previous):
                shutil.rmtree(os.path.join(self.directory, other), ignore_errors=True)


def _random_states(model):
    """The model's variables that Keras's weight files leave out: the `SeedGenerator` states."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]
