"""The certified training study: a quick row runs, is kept and read back; the table has every bound and radius; the
checked-in digits study meets the issue's target."""

import json
import pathlib

import pytest


from apps import certified_training as study

RESULTS = pathlib.Path(study.__file__).parent / "results" / "certified_training"


def test_a_quick_row_runs_and_a_rerun_reads_it_back(tmp_path, capsys):
    argv = ["--quick", "--trainings", "ibp", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]
    assert study.main(argv) == 0
    row = json.loads((tmp_path / "out" / "cells" / "ibp.json").read_text())
    assert set(row["certified"]) == {f"{m} {n} {e:g}" for m in study.METHODS + ("best",) for n, e in study.RADII}
    assert all(0 <= v <= 100 for v in row["certified"].values())
    table = (tmp_path / "out" / "certified_training.md").read_text()
    assert "| ibp " in table and "AutoAttack 0.1" in table and "linf 0.2" in table
    trained = (tmp_path / "runs" / "ibp" / "metrics.json").stat().st_mtime_ns
    assert study.main(argv) == 0  # read back, not trained again
    assert (tmp_path / "runs" / "ibp" / "metrics.json").stat().st_mtime_ns == trained


def test_bad_trainings_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--trainings", "ibp,milp"])
    assert exit_info.value.code == 2 and "--trainings must list some of" in capsys.readouterr().err


@pytest.mark.smoke
def test_the_checked_in_study_certifies_90_percent_at_linf_0_1_with_95_percent_clean():
    rows = {r["training"]: r for r in json.loads((RESULTS / "certified_training.json").read_text())}
    assert set(rows) == set(study.TRAININGS)
    assert all(r["settings"] == study.dataclasses.asdict(study.PROFILES["digits"]) for r in rows.values())
    best = max((rows[t] for t in ("ibp", "crown-ibp")), key=lambda r: r["certified"]["best linf 0.1"])
    assert best["certified"]["best linf 0.1"] >= 90 and best["clean"] >= 95
    assert "best linf 0.2" in best["certified"]
    lipschitz = {t: r["certified"]["lipschitz l2 0.25"] for t, r in rows.items()}
    assert lipschitz["lipschitz-margin"] > 40 and all(v < 1 for t, v in lipschitz.items() if t != "lipschitz-margin")
    assert (RESULTS / "certified_training.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.smoke
def test_every_training_has_its_own_marker_and_line_style(tmp_path):
    """Natural and PGD training certify the same 0 %: only their markers and line styles tell their lines apart."""
    assert set(study.STYLES) == set(study.TRAININGS)
    assert len(set(marker for marker, _ in study.STYLES.values())) == len(study.TRAININGS)
    assert len(set(str(style) for _, style in study.STYLES.values())) == len(study.TRAININGS)
    rows = json.loads((RESULTS / "certified_training.json").read_text())
    study.plot(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
