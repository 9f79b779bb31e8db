import time

import pytest

from kerobust.data import tfds_source
from kerobust.errors import KerobustError


def test_missing_tfds_data_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)
    started = time.time()
    with pytest.raises(KerobustError, match="not in .* and the network is unreachable.*--data-dir"):
        tfds_source.load_tfds("cifar10", data_dir=str(tmp_path))
    assert time.time() - started < 10


def test_network_probe_gives_up_within_its_timeout():
    started = time.time()
    tfds_source.network_reachable(("10.255.255.1", 9), timeout=1.0)  # unroutable: no answer
    assert time.time() - started < 3
