import math

import keras
import numpy as np
import pytest
from keras import ops

from kerobust.errors import KerobustError
from kerobust.training.optimizers import build_optimizer
from kerobust.training.schedules import SCHEDULES, build_schedule, default_milestones

pytestmark = pytest.mark.smoke


def _at(schedule, step):
    return float(ops.convert_to_numpy(schedule(step)))


def test_constant_is_the_plain_rate():
    assert build_schedule("constant", 0.01, epochs=5, steps_per_epoch=3) == 0.01


def test_default_milestones_are_half_and_three_quarters():
    assert default_milestones(40) == [20, 30]  # Bigaud, Papereux & Rolland (2021) section 2.1
    assert default_milestones(200) == [100, 150]  # Rice et al. 2020
    assert default_milestones(3) == [1, 2]
    assert default_milestones(1) == [1]


def test_multistep_drops_after_each_milestone_epoch():
    """40 epochs of 10 steps: epochs 1-20 at 0.1, 21-30 at 0.01, 31-40 at 0.001 (steps counted from 0)."""
    schedule = build_schedule("multistep", 0.1, epochs=40, steps_per_epoch=10)
    expected = {0: 0.1, 199: 0.1, 200: 0.01, 299: 0.01, 300: 0.001, 399: 0.001, 5000: 0.001}
    for step, value in expected.items():
        assert _at(schedule, step) == pytest.approx(value, rel=1e-6), step


def test_multistep_with_given_milestones_and_gamma():
    schedule = build_schedule("multistep", 0.4, epochs=6, steps_per_epoch=5, milestones=[2, 5], gamma=0.5)
    values = [_at(schedule, step) for step in range(30)]
    np.testing.assert_allclose(values, [0.4] * 10 + [0.2] * 15 + [0.1] * 5, rtol=1e-6)


def test_cosine_from_lr_to_zero_over_all_steps():
    schedule = build_schedule("cosine", 0.2, epochs=10, steps_per_epoch=5)
    assert _at(schedule, 0) == pytest.approx(0.2)
    assert _at(schedule, 10) == pytest.approx(0.1 * (1 + math.cos(math.pi * 10 / 50)))
    assert _at(schedule, 25) == pytest.approx(0.1)
    assert _at(schedule, 50) == pytest.approx(0.0, abs=1e-8)
    assert _at(schedule, 80) == pytest.approx(0.0, abs=1e-8)


def test_cosine_floor():
    schedule = build_schedule("cosine", 0.2, epochs=10, steps_per_epoch=5, min_lr=0.02)
    assert _at(schedule, 0) == pytest.approx(0.2)
    assert _at(schedule, 25) == pytest.approx(0.11)
    assert _at(schedule, 50) == pytest.approx(0.02)


def test_cosine_with_linear_warm_up():
    """2 warm-up epochs of 5 steps: 0 -> 0.2 over steps 0-10, then cosine over the remaining 40 steps."""
    schedule = build_schedule("cosine", 0.2, epochs=10, steps_per_epoch=5, warmup_epochs=2)
    assert _at(schedule, 0) == pytest.approx(0.0, abs=1e-8)
    assert _at(schedule, 5) == pytest.approx(0.1)
    assert _at(schedule, 10) == pytest.approx(0.2)
    assert _at(schedule, 30) == pytest.approx(0.1)
    assert _at(schedule, 50) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("milestones", [[30, 20], [20, 20], [0, 10], [10, 41], [], [2.5]])
def test_bad_milestones_are_one_line_errors(milestones):
    with pytest.raises(KerobustError, match=r"milestones must be increasing whole epochs in \[1, 40\]") as error:
        build_schedule("multistep", 0.1, epochs=40, steps_per_epoch=10, milestones=milestones)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cosin", {}, "unknown learning-rate schedule 'cosin'. Did you mean 'cosine'?"),
        ("cosine", {"milestones": [5]}, "milestones apply to the multistep schedule"),
        ("multistep", {"warmup_epochs": 2}, "warm-up epochs apply to the cosine schedule"),
        ("cosine", {"warmup_epochs": 10}, "warm-up epochs must be in"),
        ("cosine", {"min_lr": 0.5}, "cosine floor"),
        ("multistep", {"gamma": 0.0}, "gamma must be > 0"),
    ],
)
def test_bad_options_are_errors(name, options, message):
    with pytest.raises(KerobustError, match=message.replace("?", r"\?").replace("(", r"\(")):
        build_schedule(name, 0.1, epochs=10, steps_per_epoch=4, **options)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("name", SCHEDULES)
def test_the_optimizer_follows_its_step_counter(optimizer, name):
    """Restoring `iterations` (as checkpoints do) puts the rate back where the schedule was."""
    schedule = build_schedule(name, 0.1, epochs=4, steps_per_epoch=5)
    built = build_optimizer(optimizer, lr=schedule)
    for step in (0, 9, 10, 15, 19):
        built.iterations.assign(step)
        expected = schedule if name == "constant" else _at(schedule, step)
        assert float(ops.convert_to_numpy(built.learning_rate)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_decoupled_weight_decay_is_scaled_by_the_scheduled_rate(optimizer):
    """Keras 3 decays w <- w - lr_t * wd * w before each update (as PyTorch's AdamW): with zero gradients only the
    decay acts, at 0.5 for steps 0-1 and 0.05 for steps 2-3."""
    schedule = build_schedule("multistep", 0.5, epochs=4, steps_per_epoch=1, milestones=[2])
    built = build_optimizer(optimizer, lr=schedule, weight_decay=0.1)
    weight = keras.Variable(np.ones(3, "float32"))
    for _ in range(4):
        built.apply_gradients([(ops.zeros(3), weight)])
    expected = (1 - 0.5 * 0.1) ** 2 * (1 - 0.05 * 0.1) ** 2
    np.testing.assert_allclose(ops.convert_to_numpy(weight), expected, rtol=1e-6)


class _RateAtEpochStart(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _compiled(schedule):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=build_optimizer("sgd", lr=schedule), loss="mse")
    return model


def test_fit_drives_the_schedule_and_a_restored_optimizer_resumes_it(tmp_path):
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    model = _compiled(build_schedule("multistep", 0.1, epochs=4, steps_per_epoch=2, milestones=[2]))
    rates = _RateAtEpochStart()
    model.fit(x, y, batch_size=4, epochs=4, callbacks=[rates], verbose=0)
    np.testing.assert_allclose(rates.rates, [0.1, 0.1, 0.01, 0.01], rtol=1e-6)

    path = str(tmp_path / "state.weights.h5")
    model.save_weights(path)
    resumed = _compiled(build_schedule("multistep", 0.1, epochs=4, steps_per_epoch=2, milestones=[1]))
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    assert int(ops.convert_to_numpy(resumed.optimizer.iterations)) == 8
    assert float(ops.convert_to_numpy(resumed.optimizer.learning_rate)) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "name, options", [("multistep", {"milestones": [3, 7]}), ("cosine", {"warmup_epochs": 1, "min_lr": 0.01})]
)
def test_schedules_survive_serialisation_alone_and_inside_the_optimizer(name, options):
    schedule = build_schedule(name, 0.1, epochs=10, steps_per_epoch=4, **options)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    optimizer = build_optimizer("adamw", lr=schedule)
    rebuilt = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is type(schedule)
    for step in (0, 3, 4, 11, 12, 27, 28, 40):
        assert _at(again, step) == pytest.approx(_at(schedule, step))
        rebuilt.iterations.assign(step)
        assert float(ops.convert_to_numpy(rebuilt.learning_rate)) == pytest.approx(_at(schedule, step))
