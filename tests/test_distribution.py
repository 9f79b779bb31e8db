"""`--distribute mirrored`, `multi-worker` and (JAX) `data-parallel`: the same global batch on 2 replicas gives the
weights of 1 replica, per training method; `kerobust fit` finishes under each and records it; under multi-worker only
the chief writes, and a resumed run starts every task at the chief's epoch; stray flags and a bad TF_CONFIG are one
clear line."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerobust.cli.main import main
from tests.multi_worker import run_two_workers

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute is TensorFlow's")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _assert_the_same_training(stdout):
    """The equivalence script's JSON: training moved the weights, both runs reached the same ones and logged the
    same loss."""
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["moved"] > 1e-3  # two optimizer steps (four for free training) moved the weights
    assert result["max_difference"] <= 1e-5 * max(1.0, result["scale"])
    assert result["loss_two"] == pytest.approx(result["loss_one"], rel=1e-5)  # the logged loss is not halved


@pytest.mark.parametrize("method", ["natural", "pgd", "free"])
def test_two_replicas_give_the_weights_of_one(method):
    done = subprocess.run([sys.executable, "-m", "tests.distribution_equivalence", method], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_the_same_training(done.stdout)


@pytest.mark.parametrize("method", ["natural", pytest.param("free", marks=pytest.mark.slow)])
def test_two_workers_give_the_weights_of_one_device(method):
    (chief_code, chief_out, chief_err), (worker_code, worker_out, worker_err) = run_two_workers(
        [sys.executable, "-m", "tests.distribution_equivalence", method, "multi-worker"], timeout=600)
    assert chief_code == 0 and worker_code == 0, chief_err[-2000:] + worker_err[-2000:]
    assert worker_out.strip() == ""  # only the chief compares
    _assert_the_same_training(chief_out)


def test_fit_under_mirrored_with_norm_decay_and_clipping_records_two_replicas_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "kerobust.cli.main", "fit", "--arch", "basicnet", "--width", "8", "--data", "digits",
            "--train-method", "free", "--replicas", "2", "--distribute", "mirrored", "--epochs", "2", "--norm-decay",
            "linf", "--svc", "1.5", "--val-points", "32", "--diagnostics-points", "0", "--dashboard-every", "0",
            "--run-dir", str(run_dir)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distribution"] == {"strategy": "mirrored", "replicas": 2}
    assert metrics["export"]["status"] == "ok" and len(metrics["regularisers"]) == 2
    # Clipping ran under the strategy: every conv's circular operator on its input grid (Sedghi et al.: the kernel's
    # 2-D DFT, one singular value decomposition per frequency) has singular values at most 1.5.
    model = keras.models.load_model(run_dir / "model.keras")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs
    for layer in convs:
        grid = tuple(layer.input.shape[1:3])
        spectrum = np.fft.fft2(np.asarray(layer.kernel), s=grid, axes=(0, 1))
        assert np.linalg.svd(spectrum, compute_uv=False).max() <= 1.5 * (1 + 1e-3), layer.name
    # The same command resumes from the checkpoint (the restore builds the optimizer in the strategy's scope).
    (run_dir / "metrics.json").unlink()
    again = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming after epoch 1" in again.stdout


def _jax():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.parametrize("method", ["pgd", pytest.param("free", marks=pytest.mark.slow)])
def test_data_parallel_on_two_host_devices_gives_the_weights_of_one(method):
    """JAX: one program over the sharded global batch; PGD keeps its random start and still matches."""
    done = subprocess.run([sys.executable, "-m", "tests.distribution_equivalence", method, "data-parallel"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=_jax())
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_the_same_training(done.stdout)


def test_fit_under_data_parallel_records_two_replicas(tmp_path):
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "kerobust.cli.main", "fit", "--arch", "basicnet", "--width", "8", "--data", "digits",
            "--train-method", "free", "--replays", "2", "--epochs", "2", "--batch-size", "100", "--distribute",
            "data-parallel", "--val-points", "32", "--diagnostics-points", "0", "--dashboard-every", "0",
            "--run-dir", str(run_dir)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, env=_jax())
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distribution"] == {"strategy": "data-parallel", "replicas": 2}
    assert metrics["export"]["status"] == "ok"
    assert len(metrics["history"]["loss"]) == 1  # free training: 2 epochs are 1 pass of 2 replays
    # Every batch splits evenly over the devices; a batch size that cannot is refused before any work.
    bad = subprocess.run(argv[:-2] + ["--batch-size", "101", "--run-dir", str(tmp_path / "bad")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=_jax())
    assert bad.returncode == 2 and "--batch-size 101 is not a multiple of 2" in bad.stderr
    assert not (tmp_path / "bad").exists()


def _fit_argv(run_dir):
    return [sys.executable, "-m", "kerobust.cli.main", "fit", "--arch", "basicnet", "--width", "8", "--data", "digits",
            "--train-method", "pgd", "--steps", "2", "--distribute", "multi-worker", "--epochs", "2", "--val-points",
            "32", "--diagnostics-points", "0", "--dashboard-every", "0", "--run-dir", str(run_dir)]


def test_fit_on_two_workers_writes_only_the_chiefs_run_folder_and_resumes_from_it(tmp_path):
    run_dir, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    (chief_code, chief_out, chief_err), (worker_code, worker_out, worker_err) = run_two_workers(
        _fit_argv(run_dir), env={"TMPDIR": str(scratch)})
    assert chief_code == 0 and worker_code == 0, chief_err[-2000:] + worker_err[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distribution"] == {"strategy": "multi-worker", "replicas": 2}
    assert metrics["export"]["status"] == "ok" and len(metrics["history"]["loss"]) == 2
    assert "the chief writes" in worker_out and "Test accuracy on" not in worker_out
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("kerobust-worker-")]  # its scratch is gone

    # The same command again: both tasks resume at the chief's epoch 2 (the worker reads the chief's checkpoint).
    (run_dir / "metrics.json").unlink()
    (chief_code, _, chief_err), (worker_code, _, worker_err) = run_two_workers(_fit_argv(run_dir))
    assert chief_code == 0 and worker_code == 0, chief_err[-2000:] + worker_err[-2000:]
    assert len(json.loads((run_dir / "metrics.json").read_text())["history"]["loss"]) == 2

    # A worker that cannot see the chief's run folder would start at epoch 0: both tasks stop with one line.
    argvs = [_fit_argv(run_dir), _fit_argv(tmp_path / "elsewhere")]
    for code, _, err in run_two_workers(argvs):
        assert code == 2 and "disagree on the epoch to resume from" in err, err[-2000:]
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("tf_config,message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is not a cluster and task"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps'"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}', "task index 1 is not"),
])
def test_bad_tf_config_is_one_line(tf_config, message, tmp_path, capsys, monkeypatch):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    argv = ["fit", "--arch", "basicnet", "--data", "digits", "--run-dir", str(tmp_path / "r"), "--distribute",
            "multi-worker"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv,message", [
    (["--replicas", "2"], "--replicas needs --distribute"),
    (["--distribute", "data-parallel"], "--distribute data-parallel runs on the JAX backend"),
    (["--distribute", "multi-worker", "--replicas", "2"], "--replicas does not apply to --distribute multi-worker"),
    (["--distribute", "mirrord"], "Did you mean 'mirrored'?"),
    (["--distribute", "mirrored", "--replicas", "0"], "replicas must be >= 1"),
])
def test_bad_distribution_flags_are_one_line(argv, message, tmp_path, capsys):
    assert main(["fit", "--arch", "basicnet", "--data", "digits", "--run-dir", str(tmp_path / "r"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("mode", ["mirrored", "data-parallel"])
def test_sharded_evaluation_gives_the_results_of_one_device(mode):
    """Predictions, FGSM, PGD, IBP, CROWN, both bound modes and the eval table, split over 2 devices, against the
    same functions on one device; PGD's random start shows each replica ran its own shard (see the script)."""
    env = _jax() if mode == "data-parallel" else {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "tests.sharded_evaluation", mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["clean"] > 0.8 and 0.05 < result["pgd"] < result["clean"]  # a trained model that PGD can fool
    for batch in ("odd", "even"):  # 101 points are padded to 2 x 51; 64 split evenly
        differences = result[batch]
        assert differences["fgsm"] <= 1e-6 and differences["pgd"] <= 1e-6, differences
        assert max(differences[k] for k in ("predict", "ibp", "sound", "thesis")) <= 1e-5, differences
        # Relative: CROWN's float32 sums over different shard shapes; 1.16e-3 and 1.19e-3 seen on a loaded 2-core CPU.
        assert differences["crown"] <= 3e-3, differences
    assert result["same_table"]
    assert result["random_start_vs_expected"] <= 1e-6
    if mode == "mirrored":
        assert result["random_start_vs_unsplit"] > 1e-3  # replica 1 drew its own noise: the split happened
    else:
        assert result["output_devices"] == 2


def test_eval_certify_and_bound_under_mirrored_record_two_replicas(natural_digits_net, tmp_path):
    path = tmp_path / "model.keras"
    natural_digits_net.save(path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    flags = ["--model", str(path), "--data", "digits", "--points", "41", "--distribute", "mirrored", "--replicas", "2"]
    commands = {
        "eval": ["--eval-steps", "3", "--diagnostics-points", "0"],
        "certify": ["--method", "ibp,lipschitz", "--eps", "0.01"],
        "bound": ["--check", "attacks"],
    }
    for command, extra in commands.items():
        out = tmp_path / f"{command}.json"
        done = subprocess.run([sys.executable, "-m", "kerobust.cli.main", command, *flags, *extra, "--json", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "sharding each batch of points over 2 devices (mirrored)" in done.stdout
        assert json.loads(out.read_text())["distribution"] == {"strategy": "mirrored", "replicas": 2}


@pytest.mark.parametrize("command,argv,message", [
    ("eval", ["--distribute", "multi-worker"], "multi-worker is for fit"),
    ("certify", ["--replicas", "2"], "--replicas needs --distribute"),
    ("bound", ["--distribute", "data-parallel"], "--distribute data-parallel runs on the JAX backend"),
    ("eval", ["--distribute", "mirrored", "--replicas", "x"], "replicas: not a number: 'x'"),
])
def test_bad_evaluation_distribution_flags_are_one_line(command, argv, message, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main([command, "--model", str(tmp_path / "missing.keras"), "--data", "digits", "--json", str(out),
                 *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
