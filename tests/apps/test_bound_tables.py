"""Peck (2017), "Robustness of Classifiers to Adversarial Perturbations" (MSc thesis, Ghent University), Tables 5.1
and 5.2: a quick run measures both networks, keeps its cells and reads them back; the statistics are those of the
stored eps values; the sound bound is never above a perturbation FGS found."""

import json
import pathlib

import numpy as np
import pytest


from apps import bound_tables as study

RESULTS = pathlib.Path(study.__file__).parent / "results" / "peck2017_tables_5_1_5_2"


@pytest.mark.slow_on_jax
def test_a_quick_run_measures_both_networks_and_reads_them_back(tmp_path, capsys):
    out = tmp_path / "out"
    assert study.main(["--quick", "--out", str(out)]) == 0
    for network in study.NETWORKS:
        cell = json.loads((out / "cells" / f"{network}.json").read_text())
        eps = np.array(cell["eps"])
        assert len(eps) == round(cell["rate"] / 100 * cell["points"]) and np.all(eps <= 100 / 255 + 1e-9)
        assert cell["min"] == pytest.approx(eps.min()) and cell["std"] == pytest.approx(eps.std())
        assert cell["sound_violations"] == 0 and cell["pixels"] == 64
    table51, table52 = (out / "table5_1.md").read_text(), (out / "table5_2.md").read_text()
    assert "Normalized theoretical bound" in table51 and "CIFAR-NIN" in table51 and "Median" in table52
    assert f"{0.9334476 / 255:.7f}" in table51  # the thesis's number beside, in [0, 1] pixels
    assert (out / "figure5_11.png").read_bytes()[:4] == b"\x89PNG"
    stamp = (out / "cells" / "lenet5.json").stat().st_mtime_ns
    assert study.main(["--quick", "--out", str(out)]) == 0
    assert (out / "cells" / "lenet5.json").stat().st_mtime_ns == stamp


def test_a_missing_dataset_is_one_line(tmp_path, capsys):
    assert study.main(["--profile", "thesis", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.smoke
@pytest.mark.skipif(not (RESULTS / "table5_1.json").exists(), reason="no checked-in results yet")
def test_the_checked_in_tables_hold_both_networks_without_a_sound_violation():
    rows = json.loads((RESULTS / "table5_1.json").read_text())
    assert [r["network"] for r in rows] == list(study.NETWORKS)
    assert all(r["sound_violations"] == 0 and 0 < r["sound"] < r["empirical"] for r in rows)
    # The thesis's numbers beside ours say which dataset each comes from.
    table51, table52 = (RESULTS / "table5_1.md").read_text(), (RESULTS / "table5_2.md").read_text()
    assert "\ndigits (this run): " in table51 and "\nthesis (LeNet-5 on MNIST, CIFAR-NIN on CIFAR-10)" in table51
    assert "| LeNet-5, digits (this run) " in table52 and "| CIFAR-NIN, thesis (CIFAR-10) / 255 " in table52
