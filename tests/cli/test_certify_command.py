"""`kerobust certify`: its help, the table and the JSON schema on a saved model; one-line errors before any work."""

import json

import numpy as np
import pytest

from kerobust.cli.main import main


@pytest.fixture(scope="module")
def saved_net(tmp_path_factory, natural_digits_net):
    path = tmp_path_factory.mktemp("models") / "net.keras"
    natural_digits_net.save(path)
    return path


def test_help_lists_every_method(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["certify", "--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    for method in ("ibp", "crown-ibp", "crown", "lipschitz", "smoothing"):
        assert method in printed


def test_prints_certified_accuracy_and_writes_the_schema(saved_net, tmp_path, capsys, natural_digits_net, digits):
    from kerobust.bounds.linear.interval import IntervalBounds

    out = tmp_path / "cert.json"
    argv = ["certify", "--model", str(saved_net), "--data", "digits", "--method", "ibp,crown,lipschitz,smoothing",
            "--threat-norm", "l2", "--eps", "0,0.1", "--points", "16", "--samples", "40", "--selection-samples", "8",
            "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "certified accuracy" in printed and "clean accuracy" in printed and "probabilistic" in printed
    results = json.loads(out.read_text())["results"]
    assert [(r["method"], r["eps"]) for r in results] == [
        (m, e) for m in ("ibp", "crown", "lipschitz", "smoothing") for e in (0.0, 0.1)]
    for result in results:
        assert set(result) >= {"method", "threat_norm", "eps", "certified_accuracy", "clean_accuracy",
                               "margin_lower_bound"}
        assert len(result["margin_lower_bound"]) == 16
    expected = IntervalBounds(natural_digits_net, "l2")(digits.x_test[:16], digits.y_test[:16], 0.1)
    np.testing.assert_allclose(results[1]["margin_lower_bound"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--method", "ibp,milp"], "unknown certification method 'milp'"),
    (["--method", "smoothing"], "smoothing certifies l2 radii"),
    (["--eps", "0.1,x"], "eps: not a number: 'x'"),
    (["--eps", "1.5"], "covers the whole [0, 1] input box"),
    (["--method", "smoothing", "--threat-norm", "l2", "--sigma", "0"], "sigma must be > 0"),
    (["--points", "-3"], "points must be >= 0"),
])
def test_bad_flags_are_one_line_errors_before_the_model_loads(tmp_path, capsys, argv, message):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.keras", "w"):  # passes the file checks; never loaded
        pass
    assert main(["certify", "--model", str(tmp_path / "model.keras"), "--data", "digits", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
