"""The LeNet-LRN study script: Table 5.3's columns plus bounds and violations, written as markdown, JSON and PNG."""

import json
import pathlib

import pytest


from apps import lenet_lrn_bounds


def test_lenet_lrn_study_writes_the_table(tmp_path):
    assert lenet_lrn_bounds.main(["--epochs", "1", "--archs", "lenet5_lrn1", "--out", str(tmp_path)]) == 0
    [row] = json.loads((tmp_path / "table.json").read_text())
    assert row["arch"] == "lenet5_lrn1" and 0 < row["eps_min"] <= row["eps_median"] <= row["eps_max"] <= 1.0
    assert row["sound_violations"] == 0 and 0 < row["sound_mean"] < row["found_mean"] and row["thesis_mean"] > 0
    assert "| lenet5_lrn1" in (tmp_path / "table.md").read_text() and (tmp_path / "bounds.png").exists()


# slow: a ResNet-20 epoch (minutes on 2 CPU cores); the zoo's ResNet-20 is bounded in tests/bounds/test_crown.py and
# tests/bounds/test_interval.py, and the app's table in the LeNet test above.
@pytest.mark.slow
def test_residual_networks_get_sound_bounds_and_no_thesis_column(tmp_path):
    args = ["--epochs", "1", "--archs", "resnet20:bn+convnorm", "--points", "24", "--out", str(tmp_path)]
    assert lenet_lrn_bounds.main(args) == 0
    [row] = json.loads((tmp_path / "table.json").read_text())
    assert row["thesis_mean"] is None and row["sound_violations"] == 0 and 0 < row["sound_mean"] < row["found_mean"]
    assert "| resnet20:bn+convnorm | " in (tmp_path / "table.md").read_text().replace("  ", " ")


def test_report_only_rerenders_the_checked_in_table_without_training(tmp_path, capsys):
    assert lenet_lrn_bounds.main(["--report-only", "--out", str(tmp_path)]) == 2
    assert "--report-only needs" in capsys.readouterr().err
    stored = pathlib.Path(lenet_lrn_bounds.__file__).parent / "results" / "peck2017_lenet_lrn"
    (tmp_path / "table.json").write_text((stored / "table.json").read_text())
    assert lenet_lrn_bounds.main(["--report-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "table.md").read_text() == (stored / "table.md").read_text()
    assert (tmp_path / "bounds.png").read_bytes()[:4] == b"\x89PNG"
