"""`kerobust norms`: per-layer table, JSON and density plot of saved models."""

import json

import keras
import pytest

from kerobust.cli.main import main
from kerobust.norms import layer_norms


def test_norms_of_two_models_table_json_and_plot(natural_digits_net, tmp_path, capsys):
    first, second = tmp_path / "a.keras", tmp_path / "b.keras"
    natural_digits_net.save(first)
    doubled = keras.models.clone_model(natural_digits_net)
    doubled.set_weights([2 * w if w.ndim > 1 else w for w in natural_digits_net.get_weights()])  # kernels x2
    doubled.save(second)
    out, plot = tmp_path / "norms.json", tmp_path / "norms.png"
    assert main(["norms", "--model", str(first), "--model", str(second), "--json", str(out), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "| product" in printed and "eq3 bound" in printed
    payload = json.loads(out.read_text())
    expected = layer_norms(natural_digits_net)
    assert ([r["l1"] for r in payload["models"][str(first)]["layers"]]
            == pytest.approx([r.l1 for r in expected], rel=1e-6))
    kernels = len(payload["models"][str(first)]["layers"])  # basicnet: conv and dense layers only, each norm doubles
    for key in ("l1", "linf", "l2"):
        assert payload["models"][str(second)]["products"][key] == pytest.approx(
            2**kernels * payload["models"][str(first)]["products"][key], rel=1e-5)
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["norms", "--model", "missing.keras"], "model file 'missing.keras' does not exist"),
    (["norms", "--model", "x.keras", "--power-iterations", "-1"], "power iterations must be >= 0"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
