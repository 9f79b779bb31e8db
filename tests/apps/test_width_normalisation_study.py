"""The width study of O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks": Table 1's layout, the
findings checked against the paper's own numbers, resumable cells, bad flags, and the checked-in results."""

import json
import os
import pathlib

import pytest


from apps import width_normalisation_study as study

# O'Hanlon (2021) Table 1, precision@1 (PGD, FGSM) per k and normalisation; clean accuracy is not in the table.
PAPER = {
    "pgd": {"none": (29.64, 35.23, 32.95, 34.33, 33.82), "bn": (37.05, 38.09, 41.18, 40.67, 40.36),
            "convnorm": (38.00, 41.72, 0.26, 8.03, 2.81), "bn+convnorm": (37.03, 1.17, 3.19, 1.31, 2.44)},
    "fgsm": {"none": (36.27, 47.30, 55.17, 43.21, 43.31), "bn": (41.92, 44.20, 47.42, 48.80, 47.36),
             "convnorm": (42.50, 47.41, 71.27, 66.40, 87.79), "bn+convnorm": (41.66, 75.73, 81.98, 83.58, 74.45)},
}
KS = (1, 2, 3, 4, 5)
PAPER_POINTS = 5000  # the paper scored its 10 % validation hold-out of CIFAR-10's 50,000 training images


def paper_cells(points=PAPER_POINTS):
    """The paper's Table 1 as cells (each on `points` test points), with the masking checks run on each cell's FGSM /
    PGD pair."""
    from kerobust.evaluation.masking import result_warnings
    from kerobust.evaluation.result import AttackAccuracy, RobustnessResult

    cells = {}
    for norm in study.NORMS:
        for i, k in enumerate(KS):
            fgsm, pgd = PAPER["fgsm"][norm][i], PAPER["pgd"][norm][i]
            result = RobustnessResult(points, 0.9, 1.0, [
                AttackAccuracy("FGSM", "linf", 8 / 255, 1, None, fgsm / 100, 1.0, description="FGSM"),
                AttackAccuracy("PGD", "linf", 8 / 255, 10, 2 / 255, pgd / 100, 1.0, description="PGD-10"),
            ])
            cells[(k, norm)] = {
                "k": k, "norm": norm, "params": 1000 * k * k, "train_seconds": 10.0 * k, "points": points,
                "clean": {"top1": 80.0 + k, "top5": 99.0}, "fgsm": {"top1": fgsm, "top5": 99.0},
                "pgd": {"top1": pgd, "top5": 90.0}, "val_accuracy": [70.0, 80.0],
                "masking_warnings": result_warnings(result),
            }
    return cells


def _rows(markdown):
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()[2:]]


@pytest.mark.smoke
def test_table1_has_the_papers_layout():
    markdown = study.table1(paper_cells(), KS, study.NORMS)
    header = [c.strip() for c in markdown.splitlines()[0].strip("|").split("|")]
    assert header == ["Accuracy", "Attack", "k", "Vanilla", "BN", "ConvNorm", "BN+ConvNorm"]
    rows = _rows(markdown)
    assert len(rows) == 2 * 2 * len(KS)  # Top-N x attack x k
    assert [r[0] for r in rows if r[0]] == ["top-1", "top-5"]
    assert [r[1] for r in rows if r[1]] == ["PGD", "FGSM", "PGD", "FGSM"]
    assert [r[2] for r in rows[:5]] == ["1", "2", "3", "4", "5"]
    assert rows[2][3:] == ["32.95", "41.18", "0.26 †", "3.19 †"]  # precision@1, PGD, k = 3
    assert rows[5 + 4][5] == "87.79 †"  # precision@1, FGSM, k = 5, ConvNorm


@pytest.mark.smoke
def test_the_papers_findings_hold_on_the_papers_numbers():
    """Run on the paper's own Table 1, the checks reproduce what its section 4.2.2 says."""
    cells = paper_cells()
    lines = "\n".join(study.findings(cells, KS, study.NORMS))
    assert "* ConvNorm's FGSM accuracy rises with k: 42.5 % at k=1, 87.8 % at k=5 (z = 47.52, p < 0.001): holds." \
        in lines
    assert ("* ConvNorm's PGD accuracy collapses at larger k (below half of k=1's): 38.0 % at k=1, lowest 0.3 % "
            "(half of k=1: 19.0 %; z = 31.76, p < 0.001): holds.") in lines
    assert ("* BN is more robust than vanilla against PGD: higher at 5 of 5 widths, significantly higher at 5, "
            "significantly lower at 0: holds.") in lines
    # Masking: ConvNorm at k = 3..5 and BN+ConvNorm at k = 2..5 (FGSM far above a collapsed PGD), nothing else.
    flagged = sorted(key for key, cell in cells.items() if cell["masking_warnings"])
    assert flagged == [(2, "bn+convnorm"), (3, "bn+convnorm"), (3, "convnorm"), (4, "bn+convnorm"), (4, "convnorm"),
                       (5, "bn+convnorm"), (5, "convnorm")]
    cells[(5, "convnorm")]["fgsm"]["top1"] = 10.0  # FGSM falling with k: reported as not holding
    assert "* ConvNorm's FGSM accuracy rises with k: 42.5 % at k=1, 10.0 % at k=5 (z = -36.93, p < 0.001): does " \
        "not hold." in "\n".join(study.findings(cells, KS, study.NORMS))


@pytest.mark.smoke
def test_the_same_differences_are_noise_on_360_points_and_findings_on_many():
    """A finding holds only when its difference is beyond noise: the digits study's 1-point gain with width (96.67 %
    at k=1, 97.78 % at k=5: 348 and 352 of 360 points) is within noise, the same gain on 100 times as many points
    holds, and a significant loss does not hold."""
    def wider(k1, k5, points):
        cells = paper_cells(points)
        for k in KS:
            cells[(k, "none")]["clean"]["top1"] = k1 if k < 5 else k5
        return next(line for line in study.findings(cells, KS, ["none"]) if "Wider" in line)

    assert wider(100 * 348 / 360, 100 * 352 / 360, 360) == (
        "* Wider is more accurate (Vanilla): clean top-1 96.7 % at k=1, 97.8 % at k=5 (z = 0.91, p = 0.36): within "
        "noise (not significant).")
    assert wider(100 * 348 / 360, 100 * 352 / 360, 36000).endswith("(z = 9.07, p < 0.001): holds.")
    assert wider(60.0, 50.0, 360).endswith("(z = -2.70, p = 0.007): does not hold.")
    # Over the widths: BN above vanilla by 3 points at every width is noise on 360 points, a finding on 5000.
    def bn_over_vanilla(points):
        cells = paper_cells(points)
        for k in KS:
            cells[(k, "none")]["clean"]["top1"], cells[(k, "bn")]["clean"]["top1"] = 90.0, 93.0
        return next(line for line in study.findings(cells, KS, study.NORMS) if "BN improves" in line)

    assert bn_over_vanilla(360) == ("* BN improves natural accuracy over vanilla: higher at 5 of 5 widths, "
                                    "significantly higher at 0, significantly lower at 0: within noise (not "
                                    "significant).")
    assert bn_over_vanilla(5000).endswith("higher at 5 of 5 widths, significantly higher at 5, significantly lower "
                                          "at 0: holds.")


@pytest.mark.smoke
def test_the_plots_draw_every_cell(tmp_path):
    cells = paper_cells()
    for plot, name in ((study.plot_table1, "t.png"), (study.plot_figure2, "f2.png"), (study.plot_figure3, "f3.png")):
        plot(cells, KS, study.NORMS, str(tmp_path / name), 16)
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    study.plot_figure2(cells, KS, study.NORMS, str(tmp_path / "bands.png"), 16, val_points=144)
    assert (tmp_path / "bands.png").read_bytes()[:4] == b"\x89PNG"


def test_cells_run_once_and_a_rerun_reads_them_back(tmp_path, capsys):
    argv = ["--quick", "--norms", "bn,convnorm", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]
    assert study.main(argv) == 0
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"cells", "table1.md", "table1.json", "table1.png", "figure2.png",
                                               "figure3.png"}
    cell = json.loads((out / "cells" / "k1_convnorm.json").read_text())
    assert cell["points"] == 48 and 0 <= cell["pgd"]["top1"] <= cell["pgd"]["top5"] <= 100
    assert len(cell["val_accuracy"]) == 1 and cell["settings"] == study.PROFILES["quick"].settings()
    assert "| BN " in (out / "table1.md").read_text() and "ConvNorm" in (out / "table1.md").read_text()
    stamp = os.stat(out / "cells" / "k1_bn.json").st_mtime_ns
    capsys.readouterr()
    assert study.main(argv) == 0
    assert "kerobust fit:" not in capsys.readouterr().out  # nothing trained again
    assert os.stat(out / "cells" / "k1_bn.json").st_mtime_ns == stamp
    # Another profile's settings do not reuse a finished cell: one line, exit 2, before any training.
    assert study.main(["--profile", "digits", "--ks", "1", "--norms", "bn", "--out", str(out), "--runs",
                       str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "was computed with other settings" in err
    assert os.stat(out / "cells" / "k1_bn.json").st_mtime_ns == stamp


@pytest.mark.smoke
@pytest.mark.parametrize("flags, message", [
    (["--ks", "0"], "--ks must be a comma-separated list"),
    (["--ks", "two"], "--ks takes whole numbers"),
    (["--norms", "bn,layernorm"], "--norms must be a comma-separated list of none, bn, convnorm, bn+convnorm"),
    (["--profile", "imagenet"], "invalid choice: 'imagenet'"),
])
def test_bad_flags_are_one_line_and_exit_2(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        study.main([*flags, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


RESULTS = pathlib.Path(study.__file__).parent / "results" / "ohanlon2021_width_study"


@pytest.mark.smoke
def test_the_checked_in_study_has_every_cell_of_the_digits_profile():
    cells = [json.loads(p.read_text()) for p in (RESULTS / "cells").glob("*.json")]
    assert len(cells) == 20 and all(c["settings"] == study.PROFILES["digits"].settings() for c in cells)
    assert {(c["k"], c["norm"]) for c in cells} == {(k, n) for k in KS for n in study.NORMS}
    table = (RESULTS / "table1.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| Accuracy") and "Attack" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == ["Accuracy", "Attack", "k", "Vanilla", "BN", "ConvNorm",
                                                                 "BN+ConvNorm"]
    for name in ("table1.png", "figure2.png", "figure3.png"):
        assert (RESULTS / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.smoke
def test_the_checked_in_findings_are_those_of_the_cells():
    """The verdicts in the checked-in table1.md are what `findings` says of the checked-in cells, and name the test."""
    stored = [json.loads(path.read_text()) for path in (RESULTS / "cells").glob("*.json")]
    cells = {(c["k"], c["norm"]): c for c in stored}
    table = (RESULTS / "table1.md").read_text()
    assert "two-proportion z-test" in table and "95 % Wilson" in table
    for line in study.findings(cells, KS, study.NORMS):
        assert line in table
    assert "* Wider is more accurate (Vanilla): clean top-1 96.7 % at k=1, 97.8 % at k=5 (z = 0.91, p = 0.36): " \
        "within noise (not significant)." in table
