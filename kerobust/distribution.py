"""Training on several devices with `tf.distribute.MirroredStrategy`: the local GPUs, or on a CPU-only machine the CPU
split into logical devices (so the path runs and is tested without a GPU).

Each replica runs the whole adversarial training step (the attack included) on its shard of the global batch; Keras
divides each replica's loss by the replica count and sums the gradients, so a step on N replicas equals the step on
one device with the same global batch (tested). `multi-worker` (from TF_CONFIG) and JAX's `data-parallel` are named
here but not built yet.
"""

import contextlib
import dataclasses

from kerobust.errors import KerobustError, require, unknown_name

STRATEGIES = ("mirrored", "multi-worker", "data-parallel")
BUILT = ("mirrored",)


@dataclasses.dataclass
class Distribution:
    """A distribution strategy's `scope()` (build and compile the model in it) and its replica count."""

    strategy_name: str
    replicas: int
    strategy: object = None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def record(self):
        """metrics.json's `distribution` block."""
        return {"strategy": self.strategy_name, "replicas": self.replicas}


def check_distribution(name, replicas):
    """A clear error for a strategy or replica count that cannot work, before any framework starts."""
    require(replicas is None or replicas >= 1, f"replicas must be >= 1, got {replicas}.")
    if name is None:
        require(replicas is None, "--replicas needs --distribute (e.g. --distribute mirrored --replicas 2).")
        return
    if name not in STRATEGIES:
        raise unknown_name("distribution strategy", name, STRATEGIES)
    require(name in BUILT, f"--distribute {name} is not built yet; --distribute mirrored is.")


def split_cpu(replicas):
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


def make_distribution(name, replicas=None):
    """The `Distribution` for `--distribute name --replicas N` (no strategy for `name` None).

    `mirrored`: over the first `replicas` local GPUs (default all); without GPUs, over `replicas` (default 2) logical
    CPU devices, which share the CPU's cores, so this tests the path rather than speeding it up.
    """
    check_distribution(name, replicas)
    if name is None:
        return Distribution("none", 1)
    import keras

    require(keras.backend.backend() == "tensorflow", f"--distribute {name} runs on the TensorFlow backend, not "
                                                     f"{keras.backend.backend()}.")
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
