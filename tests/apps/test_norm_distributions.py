"""Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Figure 2: a quick run
trains one architecture naturally and with PGD-AT, ALP and TRADES (the paper's three adversarial trainings), keeps
the layers' norms (equal to `kerobust norms` on the saved model) and draws both figures."""

import json

import pytest


from apps import norm_distributions as study


@pytest.mark.slow_on_jax
def test_a_quick_run_keeps_the_saved_models_norms_and_draws_both_figures(tmp_path):
    import keras

    from kerobust.norms import layer_norms

    out, runs = tmp_path / "out", tmp_path / "runs"
    trainings = ("natural", "trades")  # TRADES: the paired-loss methods' path (ALP's is the same)
    assert study.main(["--quick", "--archs", "vgg11", "--trainings", ",".join(trainings), "--out", str(out),
                       "--runs", str(runs)]) == 0
    for training in trainings:
        cell = json.loads((out / "cells" / f"vgg11_{training}.json").read_text())
        saved = layer_norms(keras.models.load_model(runs / f"vgg11_{training}" / "model.keras"))
        assert [row["linf"] for row in cell["norms"]] == pytest.approx([row.linf for row in saved])
        assert 0 <= cell["robust"] <= 100 and cell["points"] == 32
    table = (out / "figure2.md").read_text()
    assert "| VGG-11" in table and "TRADES" in table and "Mean l-inf layer norm" in table
    assert "VGG-11: TRADES" in table.split("Mean l-inf layer norm")[1]
    for png in ("figure2.png", "figure2_vgg11.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv", [["--archs", "vgg11,alexnet"], ["--trainings", "pgd,mart"]])
def test_unknown_architectures_and_trainings_are_refused(argv):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2
