"""TensorFlow Datasets sources (cifar10, cifar100, mnist, fashion_mnist, svhn), loaded fully into memory.

Data is read from a local tfds data directory. When it is not there, kerobust downloads it only if the network is
reachable; otherwise it fails within seconds with instructions, instead of tfds's minutes-long retry loop.
"""

from __future__ import annotations

import os
import socket

import numpy as np

from kerobust.data.dataset import Dataset, as_labels, as_pixels
from kerobust.data.splits import hold_out_validation
from kerobust.data.threat_model import ThreatModel
from kerobust.errors import KerobustError
from kerobust.types import Array

_CIFAR_THREAT = ThreatModel(
    eps=8 / 255, train_steps=10, train_step_size=2 / 255, eval_steps=(10, 20), eval_step_size=2 / 255, l2_eps=0.5
)
_MNIST_THREAT = ThreatModel(
    eps=0.3, train_steps=40, train_step_size=0.01, eval_steps=(40, 100), eval_step_size=0.01, l2_eps=2.0
)

# name -> (tfds name, test split, classes, per-channel mean, std, augmentation, threat model)
SOURCES = {
    "cifar10": ("cifar10", "test", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "crop_flip", _CIFAR_THREAT),
    "cifar100": ("cifar100", "test", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "crop_flip",
                 _CIFAR_THREAT),
    "svhn": ("svhn_cropped", "test", 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), "crop_flip",
             _CIFAR_THREAT),
    "mnist": ("mnist", "test", 10, (0.1307,), (0.3081,), "none", _MNIST_THREAT),
    "fashion_mnist": ("fashion_mnist", "test", 10, (0.2860,), (0.3530,), "none", _MNIST_THREAT),
}
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def default_data_dir() -> str:
    """tfds's default data directory (`TFDS_DATA_DIR` or ~/tensorflow_datasets)."""
    return os.environ.get("TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def network_reachable(address: tuple[str, int] = _DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to tfds's download host opens within `timeout` seconds."""
    try:
        socket.create_connection(address, timeout=timeout).close()
        return True
    except OSError:
        return False


def _missing_data_error(name, tfds_name, data_dir):
    return KerobustError(
        f"dataset {name!r} is not in {data_dir} and the network is unreachable. On a machine with network run "
        f"`python -c \"import tensorflow_datasets as tfds; tfds.load('{tfds_name}')\"`, copy "
        f"~/tensorflow_datasets/{tfds_name} into {data_dir}, or pass --data-dir DIR (or npz:PATH for your own arrays)."
    )


def load_tfds(name: str, data_dir: str | None = None) -> Dataset:
    """Loads a tfds dataset into a `Dataset`, holding out 10 % of its train split (stratified) for validation."""
    import tensorflow_datasets as tfds  # deferred: importing tfds costs a second

    tfds_name, test_split, classes, mean, std, augmentation, threat = SOURCES[name]
    data_dir = data_dir or default_data_dir()
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    if not os.path.isdir(builder.data_dir) or not builder.info.splits:
        if not network_reachable():
            raise _missing_data_error(name, tfds_name, data_dir)
        builder.download_and_prepare()
    arrays: dict[str, tuple[Array, Array]] = {}
    for split in ("train", test_split):
        images, labels = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
        arrays[split] = (as_pixels(np.asarray(images), f"{name}/{split}"), as_labels(labels, f"{name}/{split}"))
    x_train, y_train, x_val, y_val = hold_out_validation(*arrays["train"])
    return Dataset(
        name=name, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
        x_test=arrays[test_split][0], y_test=arrays[test_split][1], num_classes=classes,
        mean=mean, std=std, augmentation=augmentation, threat_model=threat,
    )
