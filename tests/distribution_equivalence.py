"""Run as `python -m tests.distribution_equivalence METHOD`: trains the same basicnet on the same two global batches
on one device and under MirroredStrategy over 2 logical CPU devices, and prints JSON: the largest weight difference,
the weights' scale and both runs' logged losses. (A subprocess: the CPU split must precede TensorFlow's runtime.)"""

import dataclasses
import json
import sys

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from kerobust.data import load_dataset  # noqa: E402
from kerobust.models import build_model  # noqa: E402
from kerobust.training import AdversarialModel, build_training_method  # noqa: E402

BATCH = 32


def train(method_name, strategy, replicas):
    digits = load_dataset("digits")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
        options = {"replays": 2} if method_name == "free" else {"steps": 3, "step_size": 0.05}
        method = build_training_method(method_name, eps=0.1, **options)
        if method_name == "pgd":  # a deterministic start: the same attack on a shard as on the whole batch
            method = dataclasses.replace(method, attack=dataclasses.replace(method.attack, random_start=False))
        trainer = AdversarialModel(classifier, method, batch_size=BATCH // replicas)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = tf.data.Dataset.from_tensor_slices((digits.x_train[: 2 * BATCH], digits.y_train[: 2 * BATCH])).batch(BATCH)
    history = trainer.fit(data, epochs=1, verbose=0, shuffle=False)
    assert trainer.distribute_strategy.num_replicas_in_sync == replicas
    weights = np.concatenate([np.ravel(w) for w in classifier.get_weights()])
    return weights, history.history["loss"][0]


def main():
    method_name = sys.argv[1]
    one, one_loss = train(method_name, tf.distribute.get_strategy(), 1)
    two, two_loss = train(method_name, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), 2)
    print(json.dumps({"max_difference": float(np.max(np.abs(one - two))), "scale": float(np.max(np.abs(one))),
                      "moved": float(np.max(np.abs(one - train_start(method_name)))),
                      "loss_one": one_loss, "loss_two": two_loss}))


def train_start(method_name):
    """The initial weights (the same seed), to check that training moved them."""
    digits = load_dataset("digits")
    keras.utils.set_random_seed(0)
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    return np.concatenate([np.ravel(w) for w in classifier.get_weights()])


if __name__ == "__main__":
    main()
