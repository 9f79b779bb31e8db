"""Run as `python -m tests.distribution_equivalence METHOD [mirrored|multi-worker|data-parallel]`: trains the same
basicnet on the same two global batches on one device and under a 2-replica distribution, and prints JSON: the largest
weight difference, the weights' scale, how far training moved the weights and both runs' logged losses.

`mirrored` (default): MirroredStrategy over 2 logical CPU devices. `multi-worker`: MultiWorkerMirroredStrategy over
the 2 tasks of TF_CONFIG (one process per task; the chief prints). `data-parallel` (KERAS_BACKEND=jax):
keras.distribution.DataParallel over 2 host devices, where PGD keeps its random start (one program over the global
batch draws the same noise). A subprocess: the device split and the collectives must precede the framework's start.
"""

import contextlib
import dataclasses
import json
import sys

import numpy as np

MODE = sys.argv[2] if len(sys.argv) > 2 else "mirrored"
if MODE in ("multi-worker", "data-parallel"):
    from kerobust.distribution import make_distribution

    DISTRIBUTION = make_distribution(MODE)
else:
    import tensorflow as tf

    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from kerobust.data import load_dataset  # noqa: E402
from kerobust.models import build_model  # noqa: E402
from kerobust.training import AdversarialModel, build_training_method  # noqa: E402

BATCH = 32


def train(method_name, scope, replicas, shard):
    """Two steps of `method_name` on the first two global batches; `shard`: the batch one copy of the step sees."""
    digits = load_dataset("digits")
    with scope:
        keras.utils.set_random_seed(0)
        classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
        options = {"replays": 2} if method_name == "free" else {"steps": 3, "step_size": 0.05}
        method = build_training_method(method_name, eps=0.1, **options)
        if method_name == "pgd" and MODE != "data-parallel":  # the same attack on a shard as on the whole batch
            method = dataclasses.replace(method, attack=dataclasses.replace(method.attack, random_start=False))
        trainer = AdversarialModel(classifier, method, batch_size=shard)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = trainer.fit(digits.x_train[: 2 * BATCH], digits.y_train[: 2 * BATCH], batch_size=BATCH, epochs=1,
                          verbose=0, shuffle=False)
    if MODE != "data-parallel":
        assert trainer.distribute_strategy.num_replicas_in_sync == replicas
    weights = np.concatenate([np.ravel(w) for w in classifier.get_weights()])
    return weights, history.history["loss"][0], classifier


def distributed(method_name):
    if MODE == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        return train(method_name, strategy.scope(), 2, BATCH // 2)
    assert DISTRIBUTION.replicas == 2
    weights, loss, classifier = train(method_name, DISTRIBUTION.scope(), 2, DISTRIBUTION.shard_batch(BATCH))
    if MODE == "data-parallel":  # the weights live on both host devices; the one-device run is not distributed
        assert len(classifier.weights[0].value.sharding.device_set) == 2
        keras.distribution.set_distribution(None)
    return weights, loss, classifier


def main():
    method_name = sys.argv[1]
    two, two_loss, _ = distributed(method_name)
    if MODE == "multi-worker" and not DISTRIBUTION.is_chief:
        return
    one, one_loss, _ = train(method_name, contextlib.nullcontext(), 1, BATCH)
    print(json.dumps({"max_difference": float(np.max(np.abs(one - two))), "scale": float(np.max(np.abs(one))),
                      "moved": float(np.max(np.abs(one - train_start()))), "loss_one": one_loss, "loss_two": two_loss}))


def train_start():
    """The initial weights (the same seed), to check that training moved them."""
    digits = load_dataset("digits")
    keras.utils.set_random_seed(0)
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    return np.concatenate([np.ravel(w) for w in classifier.get_weights()])


if __name__ == "__main__":
    main()
