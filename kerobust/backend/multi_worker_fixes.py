"""Two fixes that let Keras 3's TensorFlow trainer run under `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3 (checked on 3.15) breaks `fit` under that strategy (keras-team/keras#20585) in two places:

* `TensorFlowTrainer._maybe_symbolic_build` reduces the first distributed batch with `strategy.reduce("MEAN")` to get
  a batch for shape inference; the collective reduce refuses a `PerReplica` batch. The build only needs shapes, so
  the first local replica's shard serves.
* `reduce_per_replica` averages each step's metrics with `strategy.reduce("MEAN", v, axis=0)`, which reduces over a
  scalar's missing axis 0. The mean over replicas is `axis=None`, as on one worker.

`apply()` installs both (idempotent); `kerobust.distribution` calls it before it builds the strategy.
"""

from __future__ import annotations

import functools

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_trainer

from kerobust.errors import KerobustError

_APPLIED: list[bool] = []


def _local_shard(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(functools.partial(_local_shard, self.distribute_strategy), next(batches))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(original, values, strategy, reduction):
    if reduction in ("auto", "mean") and keras_trainer._collective_all_reduce_multi_worker(strategy):
        return tf.nest.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=None) if isinstance(v, tf.distribute.DistributedValues) else v,
            values)
    return original(values, strategy, reduction)


def apply() -> None:
    """Patches Keras's TensorFlow trainer in this process (once)."""
    if _APPLIED:
        return
    needed = ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")
    if not all(hasattr(keras_trainer, name) for name in needed) or not hasattr(
            keras_trainer.TensorFlowTrainer, "_maybe_symbolic_build"):
        raise KerobustError("--distribute multi-worker: this Keras version's TensorFlow trainer is not the one "
                            "kerobust's multi-worker fixes know (checked on Keras 3.15); use --distribute mirrored.")
    keras_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    keras_trainer.reduce_per_replica = functools.partial(_reduce_per_replica, keras_trainer.reduce_per_replica)
    _APPLIED.append(True)
