"""`--distribute mirrored`: the same global batch on 2 replicas gives the weights of 1 replica, per training method;
`kerobust fit` finishes under it and records it; strategies not built yet and stray flags are one clear line."""

import json
import os
import subprocess
import sys

import keras
import pytest

from kerobust.cli.main import main

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute is TensorFlow's")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("method", ["natural", "pgd", "free"])
def test_two_replicas_give_the_weights_of_one(method):
    done = subprocess.run([sys.executable, "-m", "tests.distribution_equivalence", method], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["moved"] > 1e-3  # two optimizer steps (four for free training) moved the weights
    assert result["max_difference"] <= 1e-5 * max(1.0, result["scale"])
    assert result["loss_two"] == pytest.approx(result["loss_one"], rel=1e-5)  # the logged loss is not halved


def test_fit_under_mirrored_records_two_replicas(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "kerobust.cli.main", "fit", "--arch", "basicnet", "--width", "8", "--data", "digits",
         "--train-method", "free", "--replicas", "2", "--distribute", "mirrored", "--epochs", "2", "--val-points",
         "32", "--diagnostics-points", "0", "--dashboard-every", "0", "--run-dir", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distribution"] == {"strategy": "mirrored", "replicas": 2}
    assert metrics["export"]["status"] == "ok"


@pytest.mark.parametrize("argv,message", [
    (["--replicas", "2"], "--replicas needs --distribute"),
    (["--distribute", "multi-worker"], "--distribute multi-worker is not built yet"),
    (["--distribute", "mirrord"], "Did you mean 'mirrored'?"),
    (["--distribute", "mirrored", "--replicas", "0"], "replicas must be >= 1"),
])
def test_bad_distribution_flags_are_one_line(argv, message, tmp_path, capsys):
    assert main(["fit", "--arch", "basicnet", "--data", "digits", "--run-dir", str(tmp_path / "r"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
