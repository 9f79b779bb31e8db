"""Early stopping on robust validation accuracy, keeping the best epoch's weights across killed and resumed runs."""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any

import keras

from kerobust.atomic_files import atomic_path, write_text
from kerobust.callbacks.classifier_of import classifier_of
from kerobust.errors import KerobustError

WEIGHTS_FILE = "best.weights.h5"
STATE_FILE = "best.json"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RobustEarlyStopping(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best `logs[monitor]`; optionally stops after `patience` epochs without
    improvement, and loads the best weights back at the end of training.

    Reference: Rice, Wong & Kolter 2020, "Overfitting in adversarially robust deep learning" (early
    stopping on robust validation accuracy); Bigaud, Papereux & Rolland (2021), "Adversarial training for image
    classification" (the BIPARO report), section 2.4.

    An epoch improves when `value > best_value + min_delta`: the first finite value always does, a tie never does (the
    earliest best epoch is kept), NaN or infinite values never do. `wait`, the epochs since the best one, is
    `last_epoch - best_epoch` (epochs counted from 1; `best_epoch` counts as 0 while there is none); training stops
    once `wait >= patience`. The value is maximised (accuracies).

    Which weights: those of the fitted model's classifier (`AdversarialModel.classifier`, what a fit evaluates and
    exports: a smaller file without optimizer state or free-training perturbation, loadable into a freshly built
    classifier), or of the fitted model itself when it has none.

    Resuming: the constructor reads `directory/best.json`, so a new instance continues the best value and wait count
    of a killed run. Since `wait` follows from epoch numbers, a re-trained epoch is counted once, not twice. Place this
    callback before `ResumableCheckpoint`: a run killed between the two resumes one epoch earlier than this record and
    re-trains an epoch already seen (never skips one); the best may then be an epoch of the killed run, whose weights
    are as genuine as any.

    Killed between the two writes: an improvement writes the weights to a temporary file, then `best.json` (the
    commit, naming the SHA-256 of the new weights and keeping the previous best), then renames the weights over
    `best.weights.h5`. A run killed after `best.json` but before the rename leaves the previous weights, whose digest
    is the previous best's: the constructor falls back to that best, and the lost improvement counts as an epoch
    without improvement. Weights matching neither digest (edited by hand) are an error.

    Args:
        directory: folder of `best.weights.h5` and `best.json` (created on first save).
        monitor: the epoch-log key to maximise (`RobustValidation` adds `val_robust_accuracy`; place it earlier in
            the callbacks list).
        patience: stop after this many epochs without improvement; `None` trains all epochs (best-epoch selection
            only).
        min_delta: the margin a value must beat the best by to count as an improvement (>= 0).
        restore_best: load the best weights at `on_train_end`. Runs that skip `fit` call `restore(model)` instead.
    """

    def __init__(self, directory: str, monitor: str = "val_robust_accuracy", patience: int | None = None,
                 min_delta: float = 0.0, restore_best: bool = True):
        super().__init__()
        if patience is not None and (int(patience) != patience or patience < 1):
            raise KerobustError(f"early-stopping patience must be a whole number >= 1, got {patience!r}.")
        if not min_delta >= 0:
            raise KerobustError(f"early-stopping min_delta must be >= 0, got {min_delta!r}.")
        self.directory = directory
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.last_epoch = 0
        self._digest: str | None = None
        self._load()

    @property
    def wait(self) -> int:
        """Epochs since the best one, as of the last epoch seen."""
        return max(0, self.last_epoch - (self.best_epoch or 0))

    @property
    def stopped(self) -> bool:
        """Whether patience ran out by the last epoch seen: a resumed command should then skip `fit` (which would
        train one more epoch before stopping again) and only `restore()`."""
        return self.patience is not None and self.last_epoch > 0 and self.wait >= self.patience

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _load(self):
        path = self._path(STATE_FILE)
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        if state.get("monitor") != self.monitor:
            raise KerobustError(
                f"{path} records the best {state.get('monitor')!r}, not {self.monitor!r}; use another folder or "
                f"delete it to start afresh."
            )
        weights = self._path(WEIGHTS_FILE)
        digest = _sha256(weights) if os.path.isfile(weights) else None
        if state.get("weights_sha256") != digest:
            previous = state.get("previous") or {}
            if "weights_sha256" not in previous or previous["weights_sha256"] != digest:
                raise KerobustError(
                    f"{weights} does not match {path} (edited or deleted by hand?); delete {self.directory} to start "
                    f"the best-epoch record afresh."
                )
            state.update(previous)  # killed after best.json, before the weights' rename
        self.last_epoch = int(state.get("epoch", 0))
        self.best_epoch = state.get("best_epoch")
        self.best_value = state.get("best_value")
        self._digest = state.get("weights_sha256")

    def _write_state(self, previous=None):
        state = {
            "monitor": self.monitor, "epoch": self.last_epoch, "best_epoch": self.best_epoch,
            "best_value": self.best_value, "wait": self.wait, "weights_sha256": self._digest, "previous": previous,
        }
        write_text(self._path(STATE_FILE), json.dumps(state, indent=1))

    def _target(self):
        if self._model is None:
            raise ValueError("RobustEarlyStopping has no model yet: pass one to restore(model).")
        return classifier_of(self.model)  # on JAX, reading self.model syncs the variables

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KerobustError(
                f"early stopping monitors {self.monitor!r}, which is not in the epoch logs (available: "
                f"{', '.join(sorted(logs)) or 'none'}); robust validation must be on and come before it in the "
                "callbacks."
            )
        value = float(logs[self.monitor])
        target = self._target()
        previous = None
        if math.isfinite(value) and (self.best_value is None or value > self.best_value + self.min_delta):
            previous = {"best_epoch": self.best_epoch, "best_value": self.best_value, "weights_sha256": self._digest}
            with atomic_path(self._path(WEIGHTS_FILE)) as temporary:
                target.save_weights(temporary)
                self.last_epoch, self.best_epoch, self.best_value = epoch + 1, epoch + 1, value
                self._digest = _sha256(temporary)
                self._write_state(previous)
        else:
            self.last_epoch = epoch + 1
            self._write_state()
        if self.stopped:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_best:
            self.restore()

    def restore(self, model: keras.Model | None = None) -> int | None:
        """Loads the best weights into `model` (default: the fitted model's classifier).

        Also for a resumed run that had already finished and skips `fit`. Returns the best epoch (counted from 1), or
        `None` (weights untouched) when no epoch has a finite value yet.
        """
        if self.best_epoch is None:
            return None
        model = self._target() if model is None else model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        model.load_weights(self._path(WEIGHTS_FILE))
        return self.best_epoch
