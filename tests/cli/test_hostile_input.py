"""Bad and hostile input, one table: each case is one line on stderr, exit status 2, and nothing left behind (no new
run folder, no `.tmp-*` scratch, the files already there unchanged unless the case says otherwise)."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from kerobust.cli.main import main

TINY_FIT = ["fit", "--arch", "basicnet", "--data", "digits", "--val-points", "0", "--steps", "1",
            "--eval-steps", "2", "--diagnostics-points", "0", "--train-method", "natural"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch run (its checkpoint folder holds epochs 1 and 2)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert main([*TINY_FIT, "--epochs", "2", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory, natural_digits_net):
    path = tmp_path_factory.mktemp("models") / "net.keras"
    natural_digits_net.save(path)
    return path


def _save(tmp, name, input_shape, classes):
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(classes)])
    path = tmp / name
    model.save(path)
    return path


def _npz(tmp, name, **arrays):
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8)).astype("float32")
    payload = {"x_train": x, "y_train": np.arange(40) % 4, "x_test": x[:8], "y_test": np.arange(8) % 4}
    payload.update(arrays)
    np.savez(tmp / name, **payload)
    return f"npz:{tmp / name}"


def _copy_run(finished_run, tmp):
    copy = tmp / "run"
    shutil.copytree(finished_run, copy)
    os.remove(copy / ".lock")
    return copy


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage(finished_run, tmp, relative, how):
    """A run killed before its evaluation (no metrics.json), with one of its files damaged."""
    run_dir = _copy_run(finished_run, tmp)
    os.remove(run_dir / "metrics.json")
    target = run_dir / relative
    if how == "truncate":
        _truncate(target)
    else:
        target.write_bytes(how)
    return [*TINY_FIT, "--epochs", "2", "--run-dir", str(run_dir)]


def _no_space(monkeypatch):
    import kerobust.atomic_files as atomic_files

    usage = shutil.disk_usage("/")
    monkeypatch.setattr(atomic_files.shutil, "disk_usage", lambda path: usage._replace(free=1 << 20))


# (case id, argv builder (tmp, fixtures) -> argv, expected part of the one line)
CASES = [
    ("dropout-1", lambda t, f: ["fit", "--dropout", "1", "--run-dir", str(t / "r")], "dropout rate must be in [0, 1)"),
    ("dropout-negative", lambda t, f: ["fit", "--dropout=-0.1", "--run-dir", str(t / "r")], "dropout rate must be in"),
    ("seed-negative", lambda t, f: ["fit", "--seed=-1", "--run-dir", str(t / "r")], "seed must be in [0, 2147483647]"),
    ("seed-too-large", lambda t, f: ["fit", "--seed", str(2**31), "--run-dir", str(t / "r")], "seed must be in"),
    ("eval-seed", lambda t, f: ["eval", "--model", str(f["model"]), "--data", "digits", "--seed", "-3"],
     "seed must be in"),
    ("linf-eps-1", lambda t, f: ["fit", "--eps", "1", "--run-dir", str(t / "r")], "covers the whole [0, 1] input box"),
    ("linf-eval-eps-2", lambda t, f: ["fit", "--eval-eps", "2", "--run-dir", str(t / "r")], "eval eps 2 is an l-inf"),
    ("eval-linf-eps-1", lambda t, f: ["eval", "--model", str(f["model"]), "--data", "digits", "--eval-eps", "0.1,1"],
     "eval eps 1 is an l-inf radius"),
    ("width-0", lambda t, f: ["fit", "--arch", "basicnet", "--width", "0"], "width must be >= 1"),
    ("config-not-utf8", lambda t, f: ["fit", "--config", str(_write(t / "c.yaml", b"arch: wrn\n\xff\xfe\n"))],
     "is not UTF-8 text"),
    ("model-classes", lambda t, f: ["eval", "--model", str(_save(t, "five.keras", (8, 8, 1), 5)), "--data", "digits"],
     "outputs (5,) logits; digits has 10 classes"),
    ("model-input-shape", lambda t, f: ["eval", "--model", str(_save(t, "small.keras", (4, 4, 1), 10)), "--data",
                                        "digits"], "takes inputs of shape (4, 4, 1); digits has (8, 8, 1)"),
    ("bound-model-classes", lambda t, f: ["bound", "--model", str(_save(t, "five.keras", (8, 8, 1), 5)), "--data",
                                          "digits"], "outputs (5,) logits"),
    ("apgd-targets", lambda t, f: ["eval", "--model", str(f["model"]), "--data", "digits", "--attacks", "apgd-t",
                                   "--targets", "10"], "--targets must be in [1, 9]"),
    ("plot-under-a-file", lambda t, f: ["eval", "--model", str(f["model"]), "--data", "digits", "--plot",
                                        str(_write(t / "file", b"") / "x.png")], "is a file, not a folder"),
    ("json-is-a-folder", lambda t, f: ["bound", "--model", str(f["model"]), "--data", "digits", "--json", str(t)],
     "it is a folder"),
    ("npz-empty-train", lambda t, f: [*TINY_FIT, "--data", _npz(t, "e.npz", x_train=np.zeros((0, 8, 8), "float32"),
                                                                y_train=np.zeros(0, int))], "x_train holds 0 images"),
    ("npz-empty-test", lambda t, f: [*TINY_FIT, "--data", _npz(t, "e.npz", x_test=np.zeros((0, 8, 8), "float32"),
                                                               y_test=np.zeros(0, int))], "x_test holds 0 images"),
    ("npz-is-npy", lambda t, f: [*TINY_FIT, "--data", f"npz:{_npy(t)}"], "is a single .npy array"),
    ("npz-is-text", lambda t, f: [*TINY_FIT, "--data", f"npz:{_write(t / 'd.npz', b'not an archive')}"],
     "cannot be read"),
    ("npz-unseen-test-class", lambda t, f: [*TINY_FIT, "--data", _npz(t, "u.npz", y_test=np.arange(8) % 4 + 3)],
     "y_test holds classes [4, 5, 6] that y_train lacks"),
    ("npz-one-class", lambda t, f: [*TINY_FIT, "--data", _npz(t, "one.npz", y_train=np.zeros(40, int),
                                                              y_test=np.zeros(8, int))], "y_train holds one class"),
    ("batch-larger-than-data", lambda t, f: [*TINY_FIT, "--batch-size", "1e9", "--run-dir", str(t / "runs" / "r")],
     "batch size 1000000000 is larger than the 1293 training images of digits"),
    ("model-out-of-memory", lambda t, f: [*TINY_FIT, "--arch", "wrn", "--k", "100000", "--run-dir",
                                          str(t / "runs" / "wrn")],
     "the wrn model does not fit in memory; choose a smaller --k"),
    ("eval-steps-empty", lambda t, f: ["fit", "--eval-steps", "", "--run-dir", str(t / "r")], "at least one PGD step"),
    ("eps-warm-up-of-pgd", lambda t, f: ["fit", "--eps-warmup-epochs", "2", "--run-dir", str(t / "r")],
     "--eps-warmup-epochs is implemented for free training only (--train-method free), not 'pgd'"),
    ("free-box-of-fgsm",
     lambda t, f: ["fit", "--train-method", "fgsm", "--free-box", "true", "--run-dir", str(t / "r")],
     "--free-box is implemented for free training only (--train-method free), not 'fgsm'"),
    ("free-step-0", lambda t, f: ["fit", "--train-method", "free", "--step-size", "0", "--run-dir", str(t / "r")],
     "step size must be > 0"),
    ("square-queries-0", lambda t, f: ["eval", "--model", "m.keras", "--data", "digits", "--square-queries", "0"],
     "square queries must be >= 1"),
    ("bound-dtype", lambda t, f: ["bound", "--model", "m.keras", "--data", "digits", "--dtype", "float16"],
     "--dtype must be float32 or float64"),
    # Outputs never replace an input, nor a file that kerobust did not write (without --overwrite).
    ("eval-json-onto-its-model", lambda t, f: ["eval", "--model", _own(t, f), "--data", "digits", "--json", _own(t, f)],
     "is the command's --model input"),
    ("certify-json-onto-its-model", lambda t, f: ["certify", "--model", _own(t, f), "--data", "digits", "--json",
                                                  _own(t, f)], "is the command's --model input"),
    ("norms-plot-onto-its-model", lambda t, f: ["norms", "--model", _own(t, f), "--plot", _own(t, f)],
     "is the command's --model input"),
    ("bound-json-onto-its-data", lambda t, f: ["bound", "--model", _own(t, f), "--data", _npz(t, "d.npz"), "--json",
                                               str(t / "d.npz")], "is the command's --data input"),
    ("onnx-out-onto-its-model", lambda t, f: ["export", "--model", _own(t, f), "--format", "onnx", "--out", _own(t, f)],
     "is the command's --model input"),
    ("onnx-out-onto-a-foreign-file", lambda t, f: ["export", "--model", _own(t, f), "--format", "onnx", "--out",
                                                   str(_write(t / "notes.onnx", b"my notes"))],
     "exists and was not written by kerobust; pass --overwrite to replace it"),
    ("eval-json-onto-a-foreign-json", lambda t, f: ["eval", "--model", _own(t, f), "--data", "digits", "--json",
                                                    str(_write(t / "mine.json", b'{"a": 1}'))],
     "was not written by kerobust"),
    ("eval-json-onto-a-fit-metrics", lambda t, f: ["eval", "--model", _own(t, f), "--data", "digits", "--json",
                                                   str(_copy_run(f["run"], t) / "metrics.json")],
     "exists and was written by kerobust fit; pass --overwrite"),
    ("norms-json-and-plot-alike", lambda t, f: ["norms", "--model", _own(t, f), "--json", str(t / "x"), "--plot",
                                                str(t / "x")], "--plot and --json are the same path"),
    ("export-onto-a-foreign-saved-model", lambda t, f: ["export", "--model", _own(t, f), "--out",
                                                        str(_foreign_saved_model(t))],
     "exists and was not written by kerobust; pass --overwrite"),
    # Validated before any work: radii that cover the box, schedules longer than the run, batches that do not split.
    ("mirrored-uneven-batch", lambda t, f: ["fit", "--distribute", "mirrored", "--replicas", "2", "--batch-size", "127",
                                            "--run-dir", str(t / "r")], "--batch-size 127 is not a multiple of 2"),
    ("free-warm-up-longer-than-the-run", lambda t, f: ["fit", "--train-method", "free", "--epochs", "8", "--replays",
                                                       "4", "--eps-warmup-epochs", "3", "--run-dir", str(t / "r")],
     "--eps-warmup-epochs 3 is longer than the run's 2 passes"),
    ("certified-ramp-longer-than-the-run", lambda t, f: ["fit", "--train-method", "ibp", "--epochs", "5",
                                                         "--cert-ramp-epochs", "6", "--run-dir", str(t / "r")],
     "is longer than the run's 5 epochs"),
    ("fit-l2-eps-beyond-the-box", lambda t, f: [*TINY_FIT, "--threat-norm", "l2", "--eps", "1e6", "--run-dir",
                                                str(t / "r")], "the input box's diameter sqrt(64) = 8"),
    ("eval-l2-eps-beyond-the-box", lambda t, f: ["eval", "--model", _own(t, f), "--data", "digits", "--threat-norm",
                                                 "l2", "--eval-eps", "9"], "sqrt(64) = 8"),
    ("export-linf-eps-5", lambda t, f: ["export", "--model", _own(t, f), "--out", str(t / "sm"), "--eps", "5"],
     "eps 5 is an l-inf radius of 1 or more"),
    ("export-beside-a-damaged-config",
     lambda t, f: ["export", "--model", _own(t, f), "--out", str(t / "sm"),
                   "--threat-norm", str(_write(t / "config.yaml", b"eps: [0.1\n") and "l2")],
     "config.yaml is damaged (not a YAML mapping): restore it, or pass --threat-norm and --eps yourself"),
    ("eval-attacks-empty", lambda t, f: ["eval", "--model", _own(t, f), "--data", "digits", "--attacks", ""],
     "the attack list is empty"),
    # Messages that name the real problem.
    ("config-is-a-folder", lambda t, f: ["fit", "--config", str(t)], "is a folder, not a YAML file"),
    ("model-truncated", lambda t, f: ["eval", "--model", _truncated_model(t, f), "--data", "digits"],
     "is damaged (a .keras file is a zip archive"),
    ("model-is-a-folder", lambda t, f: ["certify", "--model", str(t), "--data", "digits"], "is a folder; pass the"),
    ("model-with-an-unregistered-layer", lambda t, f: ["eval", "--model", _unregistered_model(t), "--data", "digits"],
     "uses the class 'Twice', which Keras does not know here"),
    ("tune-range-of-numbers", lambda t, f: ["tune", "--k", "1,2", "--lr", "1e-3..1e-2"],
     "a range lo..hi is for whole numbers"),
    ("tune-misspelt-flag", lambda t, f: ["tune", "--epohcs", "3"], "(did you mean --epochs?)"),
    # Leftovers: a refused run in a folder that already existed takes back what it made.
    ("refused-in-an-existing-empty-folder", lambda t, f: [*TINY_FIT, "--arch", "wrn", "--k", "100000", "--run-dir",
                                                          str(_folder(t / "empty"))], "does not fit in memory"),
    ("damaged-config", lambda t, f: _damage(f["run"], t, "config.yaml", b"arch: [basicnet\n"),
     "config.yaml is damaged"),
    ("damaged-progress", lambda t, f: _damage(f["run"], t, "checkpoints/epoch-0002/progress.json", b"{\"epochs_"),
     "epoch-0002/progress.json is damaged (JSONDecodeError): resume from epoch-0001 by writing 'epoch-0001' into"),
    ("truncated-checkpoint", lambda t, f: _damage(f["run"], t, "checkpoints/epoch-0002/state.weights.h5", "truncate"),
     "epoch-0002/state.weights.h5 is damaged"),
    ("damaged-pointer", lambda t, f: _damage(f["run"], t, "checkpoints/LATEST", b"\x00garbage"),
     "LATEST is damaged (does not name a complete epoch folder)"),
]


def _own(tmp, fixtures):
    """A copy of the digits model inside the case's folder (so the check sees it unchanged)."""
    copy = tmp / "own.keras"
    if not copy.exists():
        shutil.copy(fixtures["model"], copy)
    return str(copy)


def _unregistered_model(tmp):
    import keras

    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential([keras.Input((8, 8, 1)), Twice(), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp / "custom.keras")
    return str(tmp / "custom.keras")


def _truncated_model(tmp, fixtures):
    path = tmp / "cut.keras"
    path.write_bytes(fixtures["model"].read_bytes()[:3000])
    return str(path)


def _folder(path):
    path.mkdir()
    return path


def _foreign_saved_model(tmp):
    folder = tmp / "theirs"
    folder.mkdir()
    _write(folder / "saved_model.pb", b"someone else's graph")
    return folder


def _write(path, data):
    path.write_bytes(data)
    return path


def _npy(tmp):
    np.save(tmp / "d.npy", np.zeros((4, 8, 8)))
    os.replace(tmp / "d.npy", tmp / "d.npz")
    return tmp / "d.npz"


def _tree(root):
    """Every file (with its size) and folder below `root`, the held run folders' `.lock` aside."""
    tree = {}
    for folder, folders, names in os.walk(root):
        tree.update({os.path.relpath(os.path.join(folder, name), root): "folder" for name in folders})
        tree.update({os.path.relpath(os.path.join(folder, name), root): os.path.getsize(os.path.join(folder, name))
                     for name in names if name != ".lock"})
    return tree


@pytest.mark.parametrize("case,build,message", CASES, ids=[c[0] for c in CASES])
def test_one_line_exit_2_nothing_left_behind(case, build, message, tmp_path, capsys, finished_run, digits_model):
    argv = build(tmp_path, {"run": finished_run, "model": digits_model})
    before = _tree(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert _tree(tmp_path) == before  # no run folder, no scratch, nothing rewritten
    assert not (tmp_path / "r").exists()


def test_a_full_disk_at_the_first_checkpoint_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    _no_space(monkeypatch)
    run_dir = tmp_path / "run"
    assert main([*TINY_FIT, "--epochs", "1", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not enough disk space to write the checkpoint of epoch 1" in err
    assert os.listdir(tmp_path) == []


def test_a_full_disk_at_export_keeps_the_evaluation_and_the_previous_files(finished_run, tmp_path, capsys,
                                                                            monkeypatch):
    run_dir = _copy_run(finished_run, tmp_path)
    model_before = (run_dir / "model.keras").read_bytes()
    trained = json.loads((run_dir / "metrics.json").read_text())["train_seconds"]
    _no_space(monkeypatch)
    assert main([*TINY_FIT, "--epochs", "2", "--run-dir", str(run_dir), "--reevaluate"]) == 2  # evaluates, exports
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not enough disk space to write the model" in err
    assert "The evaluation is saved in" in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["export"]["status"] == "failed" and "disk space" in metrics["export"]["error"]
    assert metrics["train_seconds"] == trained > 0  # the training figures are the run's, not this session's
    assert 0 <= metrics["clean"]["top1"] <= 1
    assert (run_dir / "model.keras").read_bytes() == model_before
    assert not [name for name in os.listdir(run_dir) if name.startswith(".tmp-")]


def test_a_finished_run_is_shown_again_and_nothing_changes(finished_run, tmp_path, capsys):
    run_dir = _copy_run(finished_run, tmp_path)
    before = {path: (run_dir / path).read_bytes() for path in _tree(run_dir) if (run_dir / path).is_file()}
    assert main([*TINY_FIT, "--epochs", "2", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert ("holds a finished run (2 epochs, trained in" in out and "nothing was changed" in out
            and "--reevaluate" in out)
    metrics = json.loads(before["metrics.json"])
    assert f"clean accuracy {100 * metrics['clean']['top1']:.2f} %" in out
    assert "Test accuracy on" not in out  # the stored results, once
    assert "robust " in out and "worst case per point over FGSM, PGD-2" in out


def test_an_evaluation_option_that_changed_shows_the_stored_results_and_says_how_they_were_computed(
        finished_run, tmp_path, capsys):
    """A finished run asked for again with another evaluation-only setting is still a result, shown as it is, and the
    output says which settings differ and how to apply them."""
    run_dir = _copy_run(finished_run, tmp_path)
    before = {path: (run_dir / path).read_bytes() for path in _tree(run_dir) if (run_dir / path).is_file()}
    assert main([*TINY_FIT, "--epochs", "2", "--run-dir", str(run_dir), "--autoattack", "true"]) == 0
    out = capsys.readouterr().out
    assert "holds a finished run" in out
    assert ("These results were computed with --autoattack false; add --reevaluate to evaluate the run with "
            "--autoattack true.") in out
    assert {path: (run_dir / path).read_bytes() for path in _tree(run_dir) if (run_dir / path).is_file()} == before
    after = {path: (run_dir / path).read_bytes() for path in _tree(run_dir) if (run_dir / path).is_file()}
    assert after == before


def test_a_second_fit_on_a_held_run_folder_is_refused_while_the_first_finishes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [*TINY_FIT, "--epochs", "3", "--run-dir", str(run_dir)]
    first = subprocess.Popen([sys.executable, "-m", "kerobust.cli", *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    lock = run_dir / ".lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.1)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"is in use by another kerobust process (pid {first.pid})" in err
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 3


def test_a_training_at_chance_is_reported_as_failed_and_not_exported(tmp_path, capsys):
    rng = np.random.default_rng(1)  # labels that the images do not predict: no model can beat chance
    data = _npz(tmp_path, "noise.npz", y_train=rng.integers(0, 4, 40), x_test=rng.random((60, 8, 8), "float32"),
                y_test=np.arange(60) % 4)
    argv = [*TINY_FIT, "--data", data, "--epochs", "1", "--batch-size", "8", "--run-dir", str(tmp_path / "run")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().startswith("kerobust fit: training failed: clean test accuracy")
    assert len(captured.err.strip().splitlines()) == 1 and "lower --lr or train longer" in captured.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["export"]["status"] == "skipped"
    assert (tmp_path / "run" / "model.keras").is_file() and not (tmp_path / "run" / "saved_model").exists()
    assert main(argv) == 1  # the stored result says the same, unchanged
    assert "holds a finished run" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["torch", "numpy2"])
def test_an_unsupported_backend_is_one_line_before_keras_loads(backend, tmp_path):
    result = subprocess.run([sys.executable, "-m", "kerobust.cli.main", "eval", "--model", "m.keras",
                             "--data", "digits"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert f"KERAS_BACKEND is {backend!r}; kerobust runs on tensorflow or jax" in result.stderr


@pytest.mark.parametrize("tuner_id,port,message", [
    ("tuner0", "closed", "cannot reach the search's chief at 127.0.0.1:"),
    ("tuner0", "x", "KERASTUNER_ORACLE_PORT must be a port number"),
    ("chief", "taken", "the search's chief cannot listen on 127.0.0.1:"),
])
def test_a_distributed_search_pointed_nowhere_stops_in_one_line(tuner_id, port, message, tmp_path, capsys,
                                                                 monkeypatch):
    import socket

    from kerobust.tuning import search_files

    monkeypatch.setattr(search_files, "CHIEF_WAIT_SECONDS", 1.0)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        number = taken.getsockname()[1]
        if port == "closed":
            taken.close()
        monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "x" if port == "x" else str(number))
        started = time.time()
        assert main(["tune", *TINY_FIT[1:], "--val-points", "16", "--width", "4,6", "--epochs", "1", "--run-dir",
                     str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert time.time() - started < 15 and not (tmp_path / "s").exists()
