"""A user's own arrays in an `.npz` file with keys x_train, y_train, x_test, y_test (`--data npz:PATH`)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from kerobust.data.dataset import Dataset, as_labels, as_pixels, channel_stats
from kerobust.data.splits import hold_out_validation
from kerobust.data.threat_model import ThreatModel
from kerobust.errors import KerobustError

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Without a known threat model, kerobust uses CIFAR-10's (l-inf 8/255, PGD-10 step 2/255); override with --eps.
NPZ_THREAT = ThreatModel(
    eps=8 / 255, train_steps=10, train_step_size=2 / 255, eval_steps=(10, 20), eval_step_size=2 / 255, l2_eps=0.5
)


def load_npz(path: str) -> Dataset:
    """Loads and validates a user's `.npz` file; uint8 pixels are scaled to [0, 1], float pixels must be in it."""
    if not os.path.isfile(path):
        raise KerobustError(f"npz dataset file {path!r} does not exist.")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise KerobustError(f"npz dataset {path!r} is a single .npy array, not an .npz archive with keys "
                                f"{', '.join(REQUIRED_KEYS)} (write one with numpy.savez).")
        with archive:
            missing = [k for k in REQUIRED_KEYS if k not in archive.files]
            if missing:
                raise KerobustError(
                    f"npz dataset {path!r} lacks key(s) {', '.join(missing)}; it needs {', '.join(REQUIRED_KEYS)}."
                )
            arrays = {k: archive[k] for k in REQUIRED_KEYS}
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        if isinstance(error, KerobustError):
            raise
        raise KerobustError(f"npz dataset {path!r} cannot be read: {error}.") from None
    x_rest = as_pixels(arrays["x_train"], f"{path}:x_train")
    y_rest = as_labels(arrays["y_train"], f"{path}:y_train")
    x_test = as_pixels(arrays["x_test"], f"{path}:x_test")
    y_test = as_labels(arrays["y_test"], f"{path}:y_test")
    if len(x_rest) != len(y_rest) or len(x_test) != len(y_test):
        raise KerobustError(f"npz dataset {path!r}: images and labels differ in length.")
    for key, count in (("x_train", len(x_rest)), ("x_test", len(x_test))):
        if count < (2 if key == "x_train" else 1):
            raise KerobustError(f"npz dataset {path!r}: {key} holds {count} images; training needs at least 2 (one is "
                                f"held out for validation) and testing at least 1.")
    if len(np.unique(y_rest)) < 2:
        raise KerobustError(f"npz dataset {path!r}: y_train holds one class; a classifier needs at least 2.")
    unseen = sorted(int(c) for c in set(np.unique(y_test)) - set(np.unique(y_rest)))
    if unseen:
        raise KerobustError(f"npz dataset {path!r}: y_test holds classes {unseen[:5]} that y_train lacks; the model "
                            f"could never predict them.")
    if x_rest.shape[1:] != x_test.shape[1:]:
        raise KerobustError(f"npz dataset {path!r}: train images {x_rest.shape[1:]} and test images "
                            f"{x_test.shape[1:]} differ.")
    x_train, y_train, x_val, y_val = hold_out_validation(x_rest, y_rest)
    mean, std = channel_stats(x_train)
    return Dataset(
        name=f"npz:{path}", x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
        num_classes=int(max(y_rest.max(), y_test.max()) + 1), mean=mean, std=std, augmentation="none",
        threat_model=NPZ_THREAT,
    )
