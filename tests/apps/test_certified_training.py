"""The training-methods study: quick rows run, are kept and read back (finished cells join a later run's table);
the tables have every radius; the checked-in study was computed with today's settings; every row has its own style."""

import json
import pathlib

import pytest


from apps import certified_training as study

RESULTS = pathlib.Path(study.__file__).parent / "results" / "certified_training"


def test_quick_rows_run_and_a_rerun_reads_them_back(tmp_path, capsys):
    argv = ["--quick", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]
    assert study.main(argv + ["--trainings", "sabr+init"]) == 0
    row = json.loads((tmp_path / "out" / "cells" / "sabr+init.json").read_text())
    assert set(row["certified"]) == {f"{n} {e:g}" for n, e in study.RADII}
    assert all(0 <= v <= 100 for v in row["certified"].values())
    assert all(set(counts) == set(study.VERIFIERS) for counts in row["decided_by"].values())
    assert all(sum(row["decided_by"][k].values()) == round(row["certified"][k] * 48 / 100) for k in row["certified"])
    assert {f"autoattack@{e:g}" for e in study.LINF_RADII} <= set(row["attacks"])
    for eps in study.LINF_RADII:  # the attacks ran on the points no bound certified, and never beat a certificate
        assert row["attacked_points"][f"{eps:g}"] == round(48 * (1 - row["certified"][f"linf {eps:g}"] / 100))
        assert row["certified"][f"linf {eps:g}"] <= row["attacks"][f"autoattack@{eps:g}"] <= row["clean"]
    assert row["settings"]["row"] == {"name": "sabr+init", "method": "sabr", "awp": 0.0, "ibp_init": True}
    config = (tmp_path / "runs" / "sabr+init" / "config.yaml").read_text()
    assert "train_method: sabr" in config and "ibp_init: true" in config
    trained = (tmp_path / "runs" / "sabr+init" / "metrics.json").stat().st_mtime_ns
    assert study.main(argv + ["--trainings", "pgd+awp"]) == 0
    table = (tmp_path / "out" / "certified_training.md").read_text()
    assert "| pgd+awp " in table and "| sabr+init " in table  # the earlier row's cell joins the table
    assert "AutoAttack 0.15" in table and "linf 0.2" in table and "Not yet computed: natural, pgd," in table
    assert "awp: 0.005" in (tmp_path / "runs" / "pgd+awp" / "config.yaml").read_text()
    assert (tmp_path / "runs" / "sabr+init" / "metrics.json").stat().st_mtime_ns == trained  # read back


def test_bad_trainings_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--trainings", "ibp,milp"])
    assert exit_info.value.code == 2 and "milp" in capsys.readouterr().err


@pytest.mark.smoke
def test_the_checked_in_study_was_computed_with_todays_settings():
    rows = json.loads((RESULTS / "certified_training.json").read_text())
    assert rows and [r["training"] for r in rows] == [t for t in study.TRAININGS if t in {r["training"] for r in rows}]
    for r in rows:
        assert r["settings"] == study.cell_settings(study.PROFILES["digits"], study.ROWS[r["training"]])
        assert r["points"] == 360 and set(r["certified"]) == {f"{n} {e:g}" for n, e in study.RADII}
    assert (RESULTS / "certified_training.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.smoke
def test_every_row_has_its_own_style(tmp_path):
    """Rows that certify the same 0 % only differ by colour, marker and line style: no two rows share all three."""
    looks = {(f"C{i % 10}", i >= 10) + study.style(row) for i, row in enumerate(study.ROWS.values())}
    assert len(looks) == len(study.ROWS)
    assert set(study.METHOD_MARKERS) == {row.method for row in study.ROWS.values()}
