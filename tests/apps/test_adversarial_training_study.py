"""The tables and figures of Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification" (the
BIPARO report): every item runs on the quick profile, shares its cells and reads them back; the layout is the
report's; the checked-in results agree with their cells."""

import json
import pathlib

import pytest


from apps import adversarial_training_study as study
from apps.adversarial_training_cells import ROW_TITLES, ROWS

RESULTS = pathlib.Path(study.__file__).parent / "results"


@pytest.mark.slow_on_jax
def test_every_item_runs_quick_shares_cells_and_reads_them_back(tmp_path, capsys):
    argv = ["all", "--quick", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]
    assert study.main(argv) == 0
    for item in study.ITEMS:
        folder = tmp_path / "out" / f"bigaud2021_{item}"
        assert (folder / f"{item}.png").read_bytes()[:4] == b"\x89PNG"
        assert json.loads((folder / f"{item}.json").read_text())
    # Shared networks are trained once: 3 Table 1 BasicNets + 1 more Figure 1 radius + 1 noisy BasicNet, 2 ResNet-18s
    # of Table 2, ResNet-20 and VGG-11, 1 noisy ResNet-18, NoiseNet-20 and Table 6's wider network.
    cells = sorted(p.stem for p in (tmp_path / "out" / "bigaud2021_cells" / "cells").iterdir())
    assert len(cells) == 12 and len(list((tmp_path / "runs").iterdir())) == 12, cells
    table4 = (tmp_path / "out" / "bigaud2021_table4" / "table4.md").read_text()
    assert "| ℓ∞ PGD attack (EOT-2)" in table4 and "Natural examples (EOT" not in table4
    assert "## The BIPARO report (CIFAR-10)" in table4 and "78.13" in table4
    noisy = json.loads((tmp_path / "out" / "bigaud2021_table4" / "table4.json").read_text())
    assert [row["randomised"] for row in noisy] == [False, True, False, True]
    wider = json.loads((tmp_path / "out" / "bigaud2021_table6" / "table6.json").read_text())[1]
    assert wider["curves_on"] == "validation" and wider["settings"]["cell"]["early_stopping"]
    curves = (tmp_path / "out" / "bigaud2021_figure3" / "figure3.md").read_text()
    assert "## NoiseNet20" in curves and "## ResNet20" in curves and "test ℓ∞ PGD" in curves
    capsys.readouterr()
    assert study.main(argv) == 0
    assert "kerobust fit:" not in capsys.readouterr().out  # every cell read back


def test_a_missing_dataset_and_a_bad_item_are_one_line(tmp_path, capsys):
    argv = ["table1", "--profile", "cifar", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]
    assert study.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as exit_info:
        study.main(["table7"])
    assert exit_info.value.code == 2


@pytest.mark.smoke
@pytest.mark.parametrize("item", [i for i in study.ITEMS if (RESULTS / f"bigaud2021_{i}" / f"{i}.json").exists()])
def test_the_checked_in_results_agree_with_their_cells(item):
    rows = json.loads((RESULTS / f"bigaud2021_{item}" / f"{item}.json").read_text())
    table = (RESULTS / f"bigaud2021_{item}" / f"{item}.md").read_text()
    for row in rows:
        stored = json.loads((RESULTS / "bigaud2021_cells" / "cells" / f"{row['name']}.json").read_text())
        assert stored["scores"] == row["scores"] and stored["settings"]["fit"]["data"] == "digits"
        assert all(0 <= row["scores"]["plain"][name] <= 100 for name in ROWS)
    if item.startswith("table"):  # each value sits at its row title and column heading
        ours, paper = table.split("## kerobust")[1].split("## The BIPARO report")
        # Whose numbers, on which dataset: in the corner of each table and in the line above it.
        assert _corner(ours) == "digits (this run)" and _corner(paper) == "paper (CIFAR-10)"
        assert "\n\npaper (CIFAR-10): the report's test accuracy (%) on CIFAR-10" in paper
        cells = _markdown_cells(ours)
        for row in rows:
            for variant, scores in row["scores"].items():
                suffix = "" if variant == "plain" else f" ({variant.upper()})"
                for name in ROWS[variant != "plain":]:
                    assert cells[(ROW_TITLES[name] + suffix, row["column"])] == f"{scores[name]:.2f}"
    assert (RESULTS / f"bigaud2021_{item}" / f"{item}.png").read_bytes()[:4] == b"\x89PNG"


def _corner(text):
    """The top-left heading of the first markdown table in `text`."""
    return next(line for line in text.splitlines() if line.startswith("|")).split("|")[1].strip()


def _markdown_cells(text):
    """{(row title, column heading): value} of the first markdown table in `text`."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]  # noqa: E731
    headings = split(lines[0])
    return {(values[0], heading): value for values in map(split, lines[2:])
            for heading, value in zip(headings[1:], values[1:])}


def test_a_fit_option_added_after_a_cell_was_trained_keeps_the_cell_only_at_its_default(tmp_path):
    """kerobust gaining a `FitConfig` option does not orphan the finished cells, unless the option is in use."""
    import dataclasses

    from apps.adversarial_training_cells import PROFILES, _as_stored, basicnet, cell_settings
    from kerobust.atomic_files import write_json
    from kerobust.experiment import FitConfig

    settings = json.loads(json.dumps(cell_settings(PROFILES["digits"], basicnet())))
    path = str(tmp_path / "cell.json")
    assert _as_stored(path, settings) == settings  # nothing stored yet
    older = dict(settings, fit={k: v for k, v in settings["fit"].items() if k != "val_points"})
    write_json(path, {"settings": older})
    # val_points is 100_000 for curves, not FitConfig's default: the older cell was trained otherwise.
    assert _as_stored(path, settings) == settings
    assert settings["fit"]["jit"] == next(f.default for f in dataclasses.fields(FitConfig) if f.name == "jit")
    older = dict(settings, fit={k: v for k, v in settings["fit"].items() if k != "jit"})
    write_json(path, {"settings": older})
    assert _as_stored(path, settings) == older  # an option at its default that the cell predates is left out
