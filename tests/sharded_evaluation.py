"""Run as `python -m tests.sharded_evaluation [mirrored|data-parallel]`: trains a small basicnet on digits under a
2-replica distribution, then runs every per-point evaluation both on one device and inside `sharding_points`, and
prints JSON of the largest differences. `mirrored` (TensorFlow): MirroredStrategy over 2 logical CPU devices;
`data-parallel` (KERAS_BACKEND=jax): keras.distribution.DataParallel over 2 host devices. A subprocess: the device
split must precede the framework's start.

The ground truth of each sharded result is the same function on one device: the predictions, FGSM, PGD without a
random start, IBP, CROWN, both bound modes and the whole `evaluate_robustness` table must agree on an odd batch (the
padded path) and an even one. PGD's random start shows the split itself: on TensorFlow replica r draws its noise from
the seed moved by r * SEED_STRIDE, so its rows equal a one-device run of its shard with that seed; on JAX one program
covers the batch, so the rows equal the one-device run with the same seed.
"""

import json
import sys

import numpy as np

from kerobust.distribution import make_distribution
from kerobust.sharding import sharding_points

MODE = sys.argv[1] if len(sys.argv) > 1 else "mirrored"
DISTRIBUTION = make_distribution(MODE, 2)

import keras  # noqa: E402

from kerobust import backend  # noqa: E402
from kerobust.attacks import FGSM, PGD  # noqa: E402
from kerobust.attacks.predictions import predict  # noqa: E402
from kerobust.bounds import BoundEvaluator  # noqa: E402
from kerobust.bounds.linear.crown import CrownBounds  # noqa: E402
from kerobust.bounds.linear.interval import IntervalBounds  # noqa: E402
from kerobust.data import load_dataset  # noqa: E402
from kerobust.evaluation import evaluate_robustness  # noqa: E402
from kerobust.models import build_model  # noqa: E402

digits = load_dataset("digits")
with sharding_points(DISTRIBUTION):
    keras.utils.set_random_seed(0)
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
full = len(digits.x_train) - len(digits.x_train) % 64  # full batches: data-parallel splits each evenly
model.fit(digits.x_train[:full], digits.y_train[:full], batch_size=64, epochs=4, verbose=0)

fgsm = FGSM(eps=0.1)
pgd = PGD(eps=0.1, steps=5, random_start=False)
pgd_random = PGD(eps=0.1, steps=5)
ibp = IntervalBounds(model)
crown = CrownBounds(model)
sound = BoundEvaluator(model, "sound")
thesis = BoundEvaluator(model, "thesis")


def per_point(x, y):
    """Every per-point output, in the current context (one device, or sharded)."""
    return {
        "predict": predict(model, x), "fgsm": np.asarray(fgsm(model, x, y, seed=3)),
        "pgd": np.asarray(pgd(model, x, y, seed=3)), "ibp": ibp(x, y, 0.02), "crown": crown(x, y, 0.02),
        "sound": sound(x), "thesis": thesis(x),
    }


def largest_differences(points):
    """Per output, the largest difference between one device and the shards, relative to the output's scale (or 1)."""
    x, y = digits.x_test[:points], digits.y_test[:points]
    alone = per_point(x, y)
    with sharding_points(DISTRIBUTION):
        split = per_point(x, y)
    return {name: float(np.max(np.abs(alone[name] - split[name])) / max(1.0, np.max(np.abs(alone[name]))))
            for name in alone}


def random_start_split(points=64):
    """The largest difference of sharded PGD with a random start from what the split predicts (see the docstring)."""
    x, y = digits.x_test[:points], digits.y_test[:points]
    with sharding_points(DISTRIBUTION):
        split = np.asarray(pgd_random(model, x, y, seed=[5, 7]))
    if MODE == "data-parallel":
        expected = np.asarray(pgd_random(model, x, y, seed=[5, 7]))
    else:
        half = points // 2
        expected = np.concatenate([
            np.asarray(pgd_random(model, x[:half], y[:half], seed=[5, 7])),
            np.asarray(pgd_random(model, x[half:], y[half:], seed=[5, 7 + backend.tensorflow_backend.SEED_STRIDE])),
        ])
    unsplit = np.asarray(pgd_random(model, x, y, seed=[5, 7]))
    return float(np.max(np.abs(split - expected))), float(np.max(np.abs(split - unsplit)))


def robustness_tables(points=101):
    x, y = digits.x_test[:points], digits.y_test[:points]
    alone = evaluate_robustness(model, x, y, [fgsm, pgd], batch_size=50, progress=False).to_json()
    with sharding_points(DISTRIBUTION):
        split = evaluate_robustness(model, x, y, [fgsm, pgd], batch_size=50, progress=False).to_json()
    return alone == split, alone["clean"]["top1"], alone["attacks"][1]["top1"]


def devices_of_a_sharded_output():
    """JAX: the devices that hold a sharded function's output (TensorFlow's split shows in the random start)."""
    if MODE != "data-parallel":
        return None
    with sharding_points(DISTRIBUTION):
        output = backend.shard_points(lambda x: x * 2, 1)(np.ones((8, 3), "float32"))
    return len(output.sharding.device_set)


random_expected, random_unsplit = random_start_split()
same_table, clean, robust = robustness_tables()
print(json.dumps({
    "odd": largest_differences(101), "even": largest_differences(64), "random_start_vs_expected": random_expected,
    "random_start_vs_unsplit": random_unsplit, "same_table": same_table, "clean": clean, "pgd": robust,
    "output_devices": devices_of_a_sharded_output(),
}))
