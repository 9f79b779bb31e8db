import json
import math
import os

import keras
import numpy as np
import pytest

from kerobust import atomic_files
from kerobust.callbacks.early_stopping import RobustEarlyStopping
from kerobust.errors import KerobustError

NAN = math.nan


def _tiny_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def _fill(model, value):
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])


def _filled_with(model):
    """The single value every weight holds."""
    values = np.unique(np.concatenate([w.ravel() for w in model.get_weights()]))
    assert len(values) == 1, values
    return float(values[0])


def _drive(callback, model, scripted, first_epoch=0, end=True):
    """Plays a scripted history: epoch e's weights are all e + 1 (counted from 1). Returns the epochs run."""
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    run = 0
    for epoch in range(first_epoch, len(scripted)):
        _fill(model, epoch + 1)
        callback.on_epoch_end(epoch, {"loss": 1.0, "val_robust_accuracy": scripted[epoch]})
        run = epoch + 1
        if model.stop_training:
            break
    if end:
        callback.on_train_end()
    return run


@pytest.mark.smoke
def test_best_epoch_weights_are_restored_at_train_end(tmp_path):
    model = _tiny_model()
    callback = RobustEarlyStopping(str(tmp_path))
    assert _drive(callback, model, [0.1, 0.3, 0.5, 0.4, 0.45]) == 5
    assert _filled_with(model) == 3
    assert (callback.best_epoch, callback.best_value, callback.wait) == (3, 0.5, 2)
    with open(tmp_path / "best.json", encoding="utf-8") as handle:
        state = json.load(handle)
    assert (state["epoch"], state["best_epoch"], state["best_value"], state["wait"]) == (5, 3, 0.5, 2)
    assert sorted(os.listdir(tmp_path)) == ["best.json", "best.weights.h5"]


@pytest.mark.smoke
def test_restore_best_false_leaves_the_last_weights(tmp_path):
    model = _tiny_model()
    _drive(RobustEarlyStopping(str(tmp_path), restore_best=False), model, [0.1, 0.5, 0.4])
    assert _filled_with(model) == 3


@pytest.mark.smoke
def test_patience_stops_after_that_many_epochs_without_improvement(tmp_path):
    model = _tiny_model()
    callback = RobustEarlyStopping(str(tmp_path), patience=2)
    callback.set_model(model)
    model.stop_training = False
    flags = []
    for epoch, value in enumerate([0.1, 0.5, 0.4, 0.3, 0.9]):
        _fill(model, epoch + 1)
        callback.on_epoch_end(epoch, {"val_robust_accuracy": value})
        flags.append(model.stop_training)
        if model.stop_training:
            break
    assert flags == [False, False, False, True]  # best at epoch 2, epochs 3 and 4 without improvement
    assert callback.stopped
    callback.on_train_end()
    assert _filled_with(model) == 2


@pytest.mark.smoke
def test_no_patience_trains_every_epoch(tmp_path):
    model = _tiny_model()
    callback = RobustEarlyStopping(str(tmp_path))
    assert _drive(callback, model, [0.9] + [0.1] * 9) == 10
    assert not callback.stopped and callback.wait == 9 and _filled_with(model) == 1


@pytest.mark.smoke
def test_a_tie_is_no_improvement_and_min_delta_is_a_strict_margin(tmp_path):
    model = _tiny_model()
    tie = RobustEarlyStopping(str(tmp_path / "tie"))
    _drive(tie, model, [0.5, 0.5, 0.5])
    assert tie.best_epoch == 1 and _filled_with(model) == 1

    margin = RobustEarlyStopping(str(tmp_path / "margin"), min_delta=0.05)
    # 0.54 and 0.55 do not beat 0.5 + 0.05; 0.56 does; 0.6 does not beat 0.56 + 0.05.
    _drive(margin, model, [0.5, 0.54, 0.55, 0.56, 0.6])
    assert (margin.best_epoch, margin.best_value, margin.wait) == (4, 0.56, 1)
    assert _filled_with(model) == 4


@pytest.mark.smoke
def test_nan_never_improves_and_counts_as_a_waiting_epoch(tmp_path):
    model = _tiny_model()
    callback = RobustEarlyStopping(str(tmp_path), patience=3)
    assert _drive(callback, model, [NAN, 0.3, NAN, 0.2, NAN, 0.9]) == 5
    assert (callback.best_epoch, callback.best_value) == (2, 0.3)
    assert _filled_with(model) == 2

    only_nan = RobustEarlyStopping(str(tmp_path / "nan"))
    _drive(only_nan, model, [NAN, NAN])
    assert only_nan.best_epoch is None and only_nan.wait == 2
    assert _filled_with(model) == 2  # nothing to restore: the last weights stay
    assert only_nan.restore(model) is None


@pytest.mark.smoke
def test_resume_continues_best_value_and_wait_count(tmp_path):
    """Killed after epoch 4 (best at 2, wait 2); a new instance stops at epoch 5 like an uninterrupted run."""
    scripted = [0.1, 0.6, 0.5, 0.4, 0.3, 0.7]
    killed = RobustEarlyStopping(str(tmp_path), patience=3)
    _drive(killed, _tiny_model(), scripted[:4], end=False)

    resumed = RobustEarlyStopping(str(tmp_path), patience=3)
    assert (resumed.best_epoch, resumed.best_value, resumed.wait, resumed.stopped) == (2, 0.6, 2, False)
    model = _tiny_model()
    assert _drive(resumed, model, scripted, first_epoch=4) == 5
    assert _filled_with(model) == 2  # the weights saved by the killed run

    uninterrupted = RobustEarlyStopping(str(tmp_path / "whole"), patience=3)
    assert _drive(uninterrupted, _tiny_model(), scripted) == 5


@pytest.mark.smoke
def test_a_re_trained_epoch_is_not_counted_twice(tmp_path):
    """The checkpoint lagged one epoch behind this record: epoch 3 runs again after the resume."""
    killed = RobustEarlyStopping(str(tmp_path), patience=2)
    _drive(killed, _tiny_model(), [0.5, 0.4, 0.3], end=False)
    resumed = RobustEarlyStopping(str(tmp_path), patience=2)
    model = _tiny_model()
    model.stop_training = False
    resumed.set_model(model)
    resumed.on_epoch_end(2, {"val_robust_accuracy": 0.35})
    assert resumed.wait == 2 and model.stop_training


@pytest.mark.smoke
def test_finished_run_restores_without_fit(tmp_path):
    _drive(RobustEarlyStopping(str(tmp_path), patience=1), _tiny_model(), [0.2, 0.8, 0.1, 0.9])
    again = RobustEarlyStopping(str(tmp_path), patience=1)
    assert again.stopped
    fresh = _tiny_model()
    assert again.restore(fresh) == 2
    assert _filled_with(fresh) == 2


@pytest.mark.smoke
def test_killed_between_state_and_weights_falls_back_to_the_previous_best(tmp_path, monkeypatch):
    model = _tiny_model()
    callback = RobustEarlyStopping(str(tmp_path))
    _drive(callback, model, [0.3, 0.2], end=False)
    real_replace = os.replace

    def killed_before_weights(source, target):
        if str(target).endswith("best.weights.h5"):
            raise KeyboardInterrupt("killed")
        real_replace(source, target)

    monkeypatch.setattr(atomic_files.os, "replace", killed_before_weights)
    _fill(model, 3)
    with pytest.raises(KeyboardInterrupt):
        callback.on_epoch_end(2, {"val_robust_accuracy": 0.9})
    monkeypatch.undo()
    with open(tmp_path / "best.json", encoding="utf-8") as handle:
        assert json.load(handle)["best_epoch"] == 3  # the commit was written ...
    resumed = RobustEarlyStopping(str(tmp_path))  # ... but the weights on disk are still epoch 1's
    assert (resumed.best_epoch, resumed.best_value, resumed.last_epoch, resumed.wait) == (1, 0.3, 3, 2)
    fresh = _tiny_model()
    assert resumed.restore(fresh) == 1 and _filled_with(fresh) == 1


@pytest.mark.smoke
def test_weights_edited_by_hand_are_an_error(tmp_path):
    _drive(RobustEarlyStopping(str(tmp_path)), _tiny_model(), [0.3])
    other = _tiny_model()
    _fill(other, 7)
    other.save_weights(str(tmp_path / "best.weights.h5"))
    with pytest.raises(KerobustError, match="does not match"):
        RobustEarlyStopping(str(tmp_path))


@pytest.mark.smoke
def test_missing_monitor_names_the_available_keys(tmp_path):
    callback = RobustEarlyStopping(str(tmp_path))
    callback.set_model(_tiny_model())
    with pytest.raises(KerobustError, match=r"'val_robust_accuracy'.*available: loss, val_accuracy\)"):
        callback.on_epoch_end(0, {"val_accuracy": 0.5, "loss": 1.0})
    assert not os.path.exists(tmp_path / "best.json")


@pytest.mark.smoke
def test_a_different_monitor_on_the_same_folder_is_an_error(tmp_path):
    _drive(RobustEarlyStopping(str(tmp_path)), _tiny_model(), [0.3])
    with pytest.raises(KerobustError, match="records the best 'val_robust_accuracy', not 'val_accuracy'"):
        RobustEarlyStopping(str(tmp_path), monitor="val_accuracy")


@pytest.mark.smoke
@pytest.mark.parametrize("options", [{"patience": 0}, {"patience": 1.5}, {"min_delta": -0.1}])
def test_bad_options_are_errors(tmp_path, options):
    with pytest.raises(KerobustError):
        RobustEarlyStopping(str(tmp_path), **options)


class _ScriptedMonitor(keras.callbacks.Callback):
    """Stands in for `RobustValidation`: writes a scripted value into the epoch logs."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_robust_accuracy"] = self.values[epoch]


class _WeightRecorder(keras.callbacks.Callback):
    def __init__(self, model):
        super().__init__()
        self.watched = model
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.model  # noqa: B018 (on JAX, attaches the fitted state to the variables)
        self.weights.append([w.copy() for w in self.watched.get_weights()])


@pytest.mark.smoke
def test_inside_fit_it_stops_and_restores_the_wrapped_classifiers_best_weights(tmp_path):
    """A real `fit` of a model wrapping a classifier: patience 2 stops after epoch 4, the classifier gets epoch 2's."""
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    from kerobust.training import AdversarialModel, build_training_method

    trainer = AdversarialModel(classifier, build_training_method("natural", eps=0.0))
    trainer.compile(optimizer=keras.optimizers.SGD(0.1),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, size=32)
    recorder = _WeightRecorder(classifier)
    early = RobustEarlyStopping(str(tmp_path), patience=2)
    history = trainer.fit(
        x, y, batch_size=8, epochs=8, verbose=0,
        callbacks=[_ScriptedMonitor([0.2, 0.5, 0.4, 0.45, 0.9, 0.9, 0.9, 0.9]), recorder, early],
    )
    assert len(history.history["loss"]) == 4
    assert history.history["val_robust_accuracy"] == [0.2, 0.5, 0.4, 0.45]
    assert early.best_epoch == 2
    assert not np.allclose(recorder.weights[1][0], recorder.weights[3][0])  # training did move the weights
    for restored, best in zip(classifier.get_weights(), recorder.weights[1]):
        np.testing.assert_array_equal(restored, best)

    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    assert RobustEarlyStopping(str(tmp_path), patience=2).restore(fresh) == 2  # the file holds the classifier only
    for restored, best in zip(fresh.get_weights(), recorder.weights[1]):
        np.testing.assert_array_equal(restored, best)


def test_with_resumable_checkpoint_a_resumed_fit_keeps_the_best_of_the_first_run(digits, tiny_digits, tmp_path):
    """Run 1 trains epochs 1-3 (best at 2) and ends as if killed; the same command resumes from the checkpoint,
    stops at epoch 5 (patience 3) and hands back epoch 2's classifier."""
    from kerobust.callbacks import ResumableCheckpoint
    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    x, y, _, _ = tiny_digits
    scripted = [0.2, 0.6, 0.3, 0.4, 0.5, 0.9]

    def command(epochs):
        keras.utils.set_random_seed(0)
        classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=4)
        trainer = AdversarialModel(classifier, build_training_method("natural", eps=0.1))
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        checkpoint = ResumableCheckpoint(str(tmp_path / "checkpoints"))
        initial_epoch = checkpoint.restore(trainer)
        early = RobustEarlyStopping(str(tmp_path / "best"), patience=3)
        recorder = _WeightRecorder(classifier)
        callbacks = [_ScriptedMonitor(scripted), recorder, early, checkpoint]
        history = trainer.fit(x, y, batch_size=64, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                              verbose=0)
        return classifier, recorder, early, history

    _, first, _, _ = command(3)
    classifier, _, early, history = command(6)
    assert history.history["val_robust_accuracy"] == [0.4, 0.5]  # epochs 4 and 5, then patience runs out
    assert (early.best_epoch, early.stopped) == (2, True)
    for restored, best in zip(classifier.get_weights(), first.weights[1]):
        np.testing.assert_array_equal(restored, best)
