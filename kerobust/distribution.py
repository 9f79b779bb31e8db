"""Training on several devices: `tf.distribute.MirroredStrategy` over the local GPUs (or, on a CPU-only machine, the
CPU split into logical devices, so the path runs and is tested without a GPU), and
`tf.distribute.MultiWorkerMirroredStrategy` over the machines that `TF_CONFIG` names.

Each replica runs the whole adversarial training step (the attack included) on its shard of the global batch; Keras
divides each replica's loss by the replica count and sums the gradients, so a step on N replicas equals the step on
one device with the same global batch (tested). On JAX, `keras.distribution.DataParallel` shards each global batch
over the devices (the GPUs, or the CPU split into host devices) and compiles one step for all of them, so a step
equals the one-device step, random starts included (tested).

Evaluation (`kerobust eval`, `certify`, `bound`) shards its points the same way inside
`kerobust.sharding.sharding_points`: each compiled per-point function (an attack, the predictions, a bound) splits its
batch over the replicas, by `strategy.run` on TensorFlow and by a batch-sharded input on JAX
(`kerobust.backend.shard_points`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from kerobust.catalog import STRATEGIES
from kerobust.errors import KerobustError, require, unknown_name

if TYPE_CHECKING:
    from kerobust.types import Array





@dataclasses.dataclass
class Distribution:
    """A distribution strategy's `scope()` (build and compile the model in it) and its replica count."""

    strategy_name: str
    replicas: int
    strategy: Any = None  # the `tf.distribute.Strategy` (None: one device, or `data-parallel`)
    is_chief: bool = True  # only the chief writes the run folder, checkpoints and exports
    task: str = "chief"  # "worker 1" for a multi-worker task

    def scope(self) -> contextlib.AbstractContextManager[object]:
        """The `tf.distribute` strategy's scope (none for `data-parallel`, which Keras holds as its global
        distribution)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def shards_by_compiler(self) -> bool:
        """True for `data-parallel`: one program over the global batch (each replica's shard is the compiler's
        business, and every batch must split evenly); False for `tf.distribute`, which runs the step per shard."""
        return self.strategy_name == "data-parallel"

    def shard_batch(self, batch_size: int) -> int:
        """The batch one copy of the training step sees: the shard under `tf.distribute`, the global batch under
        `data-parallel`."""
        return batch_size if self.shards_by_compiler else -(-batch_size // self.replicas)

    def even(self, *arrays: Array) -> tuple[Array, ...]:
        """`arrays` cut to a multiple of the replica count under `data-parallel` (at most `replicas - 1` rows), as
        every batch must split evenly over the devices; unchanged otherwise."""
        if not self.shards_by_compiler:
            return arrays
        rows = len(arrays[0]) - len(arrays[0]) % self.replicas
        return tuple(a[:rows] for a in arrays)

    def agree(self, value: int, what: str) -> None:
        """Checks that every multi-worker task holds the same integer `value` (e.g. the epoch it resumes from): a
        task that differs would wait forever in the first collective, so every task stops with one line instead."""
        if self.strategy_name != "multi-worker":
            return
        import tensorflow as tf

        strategy = self.strategy
        gathered = tf.function(lambda: strategy.gather(strategy.run(lambda: tf.constant([value], tf.int64)), 0))()
        values = sorted(set(int(v) for v in gathered.numpy()))
        require(len(values) == 1, f"the multi-worker tasks disagree on {what} ({self.task}: {value}; all: {values}); "
                                  "every task must read the same --run-dir on a shared filesystem.")

    def record(self) -> dict[str, str | int]:
        """metrics.json's `distribution` block."""
        return {"strategy": self.strategy_name, "replicas": self.replicas}


def check_evaluation_distribution(name: str | None, replicas: int | None) -> None:
    """`check_distribution` for `kerobust eval`, `certify` and `bound`, which shard over this machine's devices."""
    require(name != "multi-worker", "evaluation shards its points over this machine's devices: --distribute mirrored "
                                    "(TensorFlow) or data-parallel (JAX); multi-worker is for fit.")
    check_distribution(name, replicas)


def configured_backend() -> str:
    """The Keras backend that `import keras` will choose (`KERAS_BACKEND`, else `keras.json`'s, else TensorFlow),
    read without importing Keras."""
    import json

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            return json.load(handle).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_distribution(name: str | None, replicas: int | None) -> None:
    """A clear error for a strategy or replica count that cannot work, before any framework starts."""
    require(replicas is None or replicas >= 1, f"replicas must be >= 1, got {replicas}.")
    if name is None:
        require(replicas is None, "--replicas needs --distribute (e.g. --distribute mirrored --replicas 2).")
        return
    if name not in STRATEGIES:
        raise unknown_name("distribution strategy", name, STRATEGIES)
    backend = configured_backend()
    require(name != "data-parallel" or backend == "jax", "--distribute data-parallel runs on the JAX backend "
            f"(KERAS_BACKEND=jax), not {backend} (there: --distribute mirrored).")
    require(name not in ("mirrored", "multi-worker") or backend == "tensorflow", f"--distribute {name} runs on the "
            f"TensorFlow backend, not {backend} (on JAX: --distribute data-parallel).")
    if name == "multi-worker":
        require(replicas is None, "--replicas does not apply to --distribute multi-worker: TF_CONFIG names the "
                                  "workers, and each uses its local GPUs (or its CPU).")
        check_tf_config(os.environ.get("TF_CONFIG"))


def check_tf_config(tf_config: str | None) -> None:
    """A clear error for a missing or malformed `TF_CONFIG` JSON, before TensorFlow reads it.

    `TF_CONFIG` is `{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}`, the same on
    every machine but for the task; a `"chief"` job (one address) is allowed, and is then the chief.
    """
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    require(tf_config, f"--distribute multi-worker needs the TF_CONFIG environment variable, {example}.")
    try:
        parsed = json.loads(tf_config)  # type: ignore[arg-type]  # not None: `require` above refuses a missing one
        cluster, task = parsed["cluster"], parsed["task"]
        task_type, index = task["type"], task["index"]
        jobs = {job: list(addresses) for job, addresses in cluster.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise KerobustError(f"TF_CONFIG is not a cluster and task ({type(error).__name__}: {error}); "
                            f"{example}.") from None
    require(task_type in ("worker", "chief") and task_type in jobs, f"TF_CONFIG's task type {task_type!r} is not a "
            f"'worker' or 'chief' job of its cluster ({sorted(jobs)}).")
    require(isinstance(index, int) and 0 <= index < len(jobs[task_type]), f"TF_CONFIG's task index {index!r} is not "
            f"one of the {len(jobs[task_type])} {task_type} addresses.")


def split_cpu(replicas: int) -> None:
    """Splits the CPU into `replicas` logical devices; only possible before TensorFlow has started its runtime."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        raise KerobustError(f"cannot split the CPU into {replicas} devices: TensorFlow has already started in this "
                            "process (run the fit in a fresh process).") from None


def make_distribution(name: str | None, replicas: int | None = None) -> Distribution:
    """The `Distribution` for `--distribute name --replicas N` (no strategy for `name` None).

    `mirrored`: over the first `replicas` local GPUs (default all); without GPUs, over `replicas` (default 2) logical
    CPU devices, which share the CPU's cores, so this tests the path rather than speeding it up.
    `multi-worker`: over the tasks of `TF_CONFIG` and their local GPUs (or CPU); call it before TensorFlow runs an op.
    `data-parallel` (JAX): over the first `replicas` GPUs (default all); without GPUs, over `replicas` (default 2)
    host devices of the CPU, split before JAX starts.
    """
    check_distribution(name, replicas)
    if name is None:
        return Distribution("none", 1)
    import keras

    if name == "data-parallel":
        return _data_parallel(replicas)
    require(keras.backend.backend() == "tensorflow", f"--distribute {name} runs on the TensorFlow backend, not "
                                                     f"{keras.backend.backend()} (on JAX: --distribute data-parallel).")
    if name == "multi-worker":
        return _multi_worker()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        replicas = replicas or len(gpus)
        require(replicas <= len(gpus), f"--replicas {replicas} asks for more GPUs than the {len(gpus)} here.")
        devices = [f"/gpu:{i}" for i in range(replicas)]
    else:
        replicas = replicas or 2
        split_cpu(replicas)
        devices = [f"/cpu:{i}" for i in range(replicas)]
    return Distribution(name, replicas, tf.distribute.MirroredStrategy(devices))


def _multi_worker():
    import tensorflow as tf

    from kerobust.backend import multi_worker_fixes

    multi_worker_fixes.apply()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:
        raise KerobustError(f"cannot start --distribute multi-worker: {str(error).splitlines()[0]} (start the "
                            "fit in a fresh process, one per TF_CONFIG task).") from None
    resolver = strategy.cluster_resolver
    return Distribution("multi-worker", strategy.num_replicas_in_sync, strategy,
                        is_chief=bool(strategy.extended.should_checkpoint),
                        task=f"{resolver.task_type} {resolver.task_id}")


HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def _data_parallel(replicas):
    import keras

    require(keras.backend.backend() == "jax", "--distribute data-parallel runs on the JAX backend (KERAS_BACKEND=jax), "
                                              f"not {keras.backend.backend()} (there: --distribute mirrored).")
    flags = os.environ.get("XLA_FLAGS", "")
    if HOST_DEVICES_FLAG not in flags:  # only the CPU platform reads it; JAX reads it when it starts
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICES_FLAG}={replicas or 2}".strip()
    devices = keras.distribution.list_devices()  # the default platform's: the GPUs, else the host devices
    on_cpu = devices[0].startswith("cpu")
    replicas = replicas or (2 if on_cpu else len(devices))
    hint = (f" (JAX had started before the split: run in a fresh process, or set XLA_FLAGS={HOST_DEVICES_FLAG}="
            f"{replicas})" if on_cpu else "")
    require(replicas <= len(devices), f"--replicas {replicas} asks for more devices than the {len(devices)} "
                                      f"{'host' if on_cpu else 'GPU'} devices here{hint}.")
    distribution = keras.distribution.DataParallel(devices=devices[:replicas])
    keras.distribution.set_distribution(distribution)
    return Distribution("data-parallel", replicas)
