import os

import keras
import numpy as np
import pytest
from keras import ops

from kerobust.callbacks import NaNGuard, ResumableCheckpoint, TrainingDiverged
from kerobust.models import build_model
from kerobust.training import AdversarialModel, build_training_method


def _trainer(digits):
    keras.utils.set_random_seed(0)
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=4)
    trainer = AdversarialModel(classifier, build_training_method("free", eps=0.1, replays=2), batch_size=64)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return trainer


def test_restore_brings_back_weights_optimizer_state_perturbation_and_epoch(digits, tiny_digits, tmp_path):
    x, y, _, _ = tiny_digits
    trainer = _trainer(digits)
    checkpoint = ResumableCheckpoint(str(tmp_path / "ckpt"))
    trainer.fit(x, y, batch_size=64, epochs=2, callbacks=[checkpoint], verbose=0)
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["LATEST", "epoch-0001", "epoch-0002"]  # the previous one kept

    fresh = _trainer(digits)
    resumed = ResumableCheckpoint(str(tmp_path / "ckpt"))
    assert resumed.restore(fresh) == 2
    for a, b in zip(trainer.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(ops.convert_to_numpy(fresh.optimizer.iterations)) == 2 * 4 * 2
    for a, b in zip(trainer.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert len(resumed.history["loss"]) == 2


def test_an_epoch_folder_without_pointer_is_ignored(digits, tiny_digits, tmp_path):
    """A run killed while writing epoch 3 leaves epoch-0003 without LATEST pointing to it: epoch 2 is restored."""
    x, y, _, _ = tiny_digits
    trainer = _trainer(digits)
    checkpoint = ResumableCheckpoint(str(tmp_path / "ckpt"))
    trainer.fit(x, y, batch_size=64, epochs=2, callbacks=[checkpoint], verbose=0)
    (tmp_path / "ckpt" / "epoch-0003").mkdir()
    (tmp_path / "ckpt" / "epoch-0003" / "state.weights.h5").write_bytes(b"truncated")
    assert ResumableCheckpoint(str(tmp_path / "ckpt")).restore(_trainer(digits)) == 2


def test_nan_loss_stops_training_with_a_clear_error(digits, tiny_digits):
    x, y, _, _ = tiny_digits
    guard = NaNGuard(hint="Lower --lr.")
    guard.set_model(_trainer(digits))
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1, batch 3.*Lower --lr"):
        guard.on_train_batch_end(2, {"loss": float("nan")})
