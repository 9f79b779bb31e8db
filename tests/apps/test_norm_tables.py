"""The table scripts of Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness":
Table 2's layout and resumable cells, Table 1's timing table."""

import json
import os
import pathlib

import pytest


from apps import norm_regularisation_table as table2
from apps import norm_timing_table as table1


def test_table2_layout_has_a_group_header_a_strength_row_and_four_rows_per_model():
    cells = [
        {"arch": "net", "kind": "none", "strength": None, "clean": 90.0, "robust": 60.0, "mean_l1": 3.0,
         "mean_linf": 2.0},
        {"arch": "net", "kind": "svc", "strength": 0.5, "clean": 80.0, "robust": 50.0, "mean_l1": 1.0,
         "mean_linf": 1.5},
        {"arch": "net", "kind": "linf", "strength": 1e-3, "clean": 91.2, "robust": 59.9, "mean_l1": 2.9,
         "mean_linf": 1.9},
    ]
    lines = table2.markdown_table(cells, ["net"]).splitlines()
    assert len(lines) == 2 + 1 + 4  # header, rule, strengths, Clean / Robust / mean l1 / mean l-inf
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[2:4] == ["none", "plain weight decay"] and header.count("singular value clipping") == 1
    strengths = [c.strip() for c in lines[2].strip("|").split("|")]
    assert strengths[2:7] == ["-", "1e-2", "1e-3", "1e-4", "1e-5"] and strengths[7:11] == ["0.5", "1", "1.5", "2"]
    clean = [c.strip() for c in lines[3].strip("|").split("|")]
    assert clean[:3] == ["net", "Clean", "90.0"] and clean[7] == "80.0" and clean[16] == "91.2" and clean[4] == "n/a"


def test_table2_runs_a_cell_and_a_rerun_reads_it_back(tmp_path, capsys):
    argv = ["--archs", "basicnet", "--epochs", "1", "--only", "none", "--points", "32", "--square-queries", "20",
            "--out", str(tmp_path), "--runs", str(tmp_path / "runs")]
    assert table2.main(argv) == 0
    cell_path = tmp_path / "cells" / "basicnet_none.json"
    cell = json.loads(cell_path.read_text())
    assert 0 <= cell["robust"] <= cell["clean"] <= 100 and cell["mean_linf"] > 0
    assert {p.name for p in tmp_path.iterdir()} >= {"table2.md", "table2.json", "table2.png", "cells", "runs"}
    stamp = os.stat(cell_path).st_mtime_ns
    capsys.readouterr()
    assert table2.main(argv) == 0
    assert "kerobust fit:" not in capsys.readouterr().out  # nothing trained again
    assert os.stat(cell_path).st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="computed with other settings"):  # a finished cell is not reused
        table2.main([*argv, "--eval-eps", "0.1"])
    assert os.stat(cell_path).st_mtime_ns == stamp


def test_the_checked_in_table2_cells_resume_under_the_default_settings():
    """A rerun with default flags reads every finished cell back instead of refusing it."""
    defaults = table2.settings(table2.build_parser().parse_args([]))
    cells = list((pathlib.Path(table2.__file__).parent / "results" / "liang2021_table2" / "cells").glob("*.json"))
    assert len(cells) == 34 and all(json.loads(p.read_text())["settings"] == defaults for p in cells)


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_table1_times_every_method_and_writes_the_table(tmp_path):
    assert table1.main(["--shapes", "3,3,4,4", "--repeats", "2", "--out", str(tmp_path)]) == 0
    [row] = json.loads((tmp_path / "table1.json").read_text())
    assert all(row[key] > 0 for key, _ in table1.METHODS)
    assert "| 3, 3, 4, 4" in (tmp_path / "table1.md").read_text() and (tmp_path / "table1.png").exists()


def test_table1_rerenders_from_its_json_and_says_whose_numbers_are_whose(tmp_path, capsys):
    assert table1.main(["--report-only", "--out", str(tmp_path)]) == 2  # nothing measured to render
    assert "--report-only needs" in capsys.readouterr().err
    stored = pathlib.Path(table1.__file__).parent / "results" / "liang2021_table1" / "table1.json"
    (tmp_path / "table1.json").write_text(stored.read_text())
    assert table1.main(["--report-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "table1.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| kernel size"))
    assert "VS / l1 (this machine)" in header and "VS / l1 (paper, GTX 1080 Ti)" in header
    assert "| 3, 3, 32, 32   | 65.9" in text and json.loads((tmp_path / "table1.json").read_text()) == \
        json.loads(stored.read_text())
