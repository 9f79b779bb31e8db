"""`load_dataset(name)`: the names behind `--data`."""

from __future__ import annotations

from kerobust.catalog import DATASETS
from kerobust.data.dataset import Dataset
from kerobust.data.digits import load_digits
from kerobust.data.npz_file import load_npz
from kerobust.data.tfds_source import SOURCES, load_tfds
from kerobust.data.threat_model import ThreatModel
from kerobust.errors import unknown_name



def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Loads `digits`, a tfds dataset (cifar10, cifar100, mnist, fashion_mnist, svhn) or `npz:PATH`."""
    if name == "digits":
        return load_digits()
    if name.startswith("npz:"):
        return load_npz(name[len("npz:"):])
    if name in SOURCES:
        return load_tfds(name, data_dir)
    raise unknown_name("dataset", name, DATASETS)


def threat_model_for(name: str) -> ThreatModel:
    """The standard threat model of dataset `name`, without loading the data."""
    from kerobust.data.digits import DIGITS_THREAT
    from kerobust.data.npz_file import NPZ_THREAT

    if name == "digits":
        return DIGITS_THREAT
    if name.startswith("npz:"):
        return NPZ_THREAT
    if name in SOURCES:
        return SOURCES[name][-1]
    raise unknown_name("dataset", name, DATASETS)
