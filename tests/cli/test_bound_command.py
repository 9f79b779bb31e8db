"""`kerobust bound`: the summary table, JSON, plot and attack check on a saved model; one-line errors."""

import json

import pytest

from kerobust.cli.main import main


@pytest.fixture(scope="module")
def saved_lenet(tmp_path_factory, digits):
    import keras

    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("lenet5_lrn1", digits.input_shape, 10, digits.mean, digits.std)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=2, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "lenet.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("mode", ["sound", "thesis"])
def test_bound_command_writes_summary_json_and_plot(saved_lenet, tmp_path, capsys, mode, digits):
    import keras
    import numpy as np

    from kerobust.bounds import BoundEvaluator

    out, plot = tmp_path / "bound.json", tmp_path / "bound.png"
    argv = ["bound", "--model", str(saved_lenet), "--data", "digits", "--mode", mode, "--points", "60",
            "--check", "attacks", "--cert-eps", "0.001,0.01", "--json", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{mode} mode" in printed and "certified accuracy" in printed and "fgs perturbation" in printed
    assert "| points perturbed | bounds above it |" in printed
    result = json.loads(out.read_text())
    assert result["mode"] == mode and len(result["bounds"]) == 60 and plot.exists()
    expected = BoundEvaluator(keras.saving.load_model(saved_lenet), mode)(digits.x_test[:60])
    np.testing.assert_allclose(result["bounds"], expected, rtol=1e-5)  # the evaluator's bounds, written unchanged
    assert 0 < result["min"] <= result["median"] <= result["max"]
    assert result["mean"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert result["normalised_mean"] == pytest.approx(result["mean"] / 64)
    assert result["certified"]["0.001"]["accuracy"] <= result["certified"]["0.001"]["share"]
    if mode == "sound":
        assert result["violations"] == []


def test_without_the_attack_check_the_table_has_no_empty_columns(saved_lenet, capsys):
    assert main(["bound", "--model", str(saved_lenet), "--data", "digits", "--points", "20"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| sound bound")]
    assert table and "-" not in table[0].replace("e-", "") and "perturbed" not in table[0]


@pytest.mark.parametrize("argv,message", [
    (["--mode", "exact"], "unknown bound mode 'exact'"),
    (["--check", "maybe"], "--check must be none or attacks"),
    (["--cert-eps", "0.1,x"], "cert eps: not a number: 'x'"),
])
def test_bad_flags_are_one_line_errors(saved_lenet, capsys, argv, message):
    assert main(["bound", "--model", str(saved_lenet), "--data", "digits", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
