"""tfds sources: a missing dataset offline fails fast; the probe gives up within its timeout on a silent host (on
loopback); and `fit --data cifar10` runs end to end on a small dataset written on disk in tfds's own format."""

import json
import socket
import time

import numpy as np
import pytest

from kerobust.data import tfds_source
from kerobust.errors import KerobustError


def test_missing_tfds_data_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)
    started = time.time()
    with pytest.raises(KerobustError, match="not in .* and the network is unreachable.*--data-dir"):
        tfds_source.load_tfds("cifar10", data_dir=str(tmp_path))
    assert time.time() - started < 10


def _silent_loopback_host():
    """A loopback address whose connections hang: a listener that never accepts, its backlog filled."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address, held = server.getsockname(), []
    for _ in range(16):
        client = socket.socket()
        client.settimeout(0.3)
        try:
            client.connect(address)
            held.append(client)
        except OSError:  # the backlog is full: further handshakes get no answer
            client.close()
            return server, held, address
    pytest.skip("this kernel answers every loopback handshake; no silent host to test against")


def test_network_probe_gives_up_within_its_timeout():
    server, held, address = _silent_loopback_host()
    try:
        started = time.time()
        assert not tfds_source.network_reachable(address, timeout=1.0)
        assert time.time() - started < 3
    finally:
        for client in held:
            client.close()
        server.close()


def write_small_cifar10(data_dir, train=200, test=60):
    """A cifar10 in tfds's own on-disk format (its real features and version): images whose mean colour and a bright
    square give the class away, so a tiny network learns them in two epochs."""
    import tensorflow_datasets as tfds

    real = tfds.builder("cifar10", data_dir=str(data_dir))

    class SmallCifar10(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = "cifar10"
        VERSION = real.version

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=real.info.features, supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(train, 0), "test": self._generate_examples(test, 1)}

        def _generate_examples(self, count, seed):
            palette = np.random.default_rng(10).integers(0, 256, (10, 3))  # the same in both splits
            rng = np.random.default_rng(seed)
            for i in range(count):
                label = i % 10
                image = np.clip(palette[label] + rng.normal(0, 20, (32, 32, 3)), 0, 255)
                image[4 + 2 * label:10 + 2 * label, 8:14] = 255
                yield str(i), {"id": f"train_{i}", "image": image.astype("uint8"), "label": label}

    SmallCifar10(data_dir=str(data_dir)).download_and_prepare()


def test_fit_on_cifar10_from_a_tfds_folder_end_to_end(tmp_path, capsys):
    from kerobust.cli.main import main
    from kerobust.data.registry import load_dataset

    write_small_cifar10(tmp_path / "tfds")
    dataset = load_dataset("cifar10", str(tmp_path / "tfds"))
    assert dataset.x_train.shape[1:] == (32, 32, 3) and dataset.x_train.dtype == np.float32
    assert len(dataset.x_train) + len(dataset.x_val) == 200 and len(dataset.x_test) == 60
    assert 0 <= dataset.x_train.min() and dataset.x_train.max() <= 1 and dataset.augmentation == "crop_flip"
    run_dir = tmp_path / "run"
    assert main(["fit", "--data", "cifar10", "--data-dir", str(tmp_path / "tfds"), "--arch", "basicnet", "--width",
                 "8", "--train-method", "pgd", "--steps", "2", "--epochs", "3", "--batch-size", "32", "--val-points",
                 "20", "--eval-steps", "3", "--diagnostics-points", "0", "--lr", "3e-3",
                 "--run-dir", str(run_dir)]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"] == "cifar10" and metrics["num_points"] == 60 and metrics["status"] == "ok"
    assert metrics["attacks"][0]["eps"] == pytest.approx(8 / 255)  # cifar10's threat model
    assert metrics["export"]["status"] == "ok" and (run_dir / "saved_model" / "saved_model.pb").is_file()
