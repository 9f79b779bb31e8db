"""`kerobust tune`: which flags are searched, one-line errors before any trial, and a search from the command line."""

import json

import pytest

from kerobust.cli.main import main
from kerobust.cli.tune import split_space

SEARCH = ["tune", "--arch", "basicnet", "--epochs", "1", "--train-method", "fgsm", "--val-points", "32",
          "--eval-steps", "2", "--diagnostics-points", "0"]


def test_lists_and_ranges_are_searched_single_values_and_list_flags_stay_fixed():
    fixed, space = split_space({"k": "1..3", "norm": "bn,convnorm", "lr": "1e-3", "eps": "8/255,4/255",
                                "eval_steps": "10,20", "data": "digits"})
    assert space == {"k": [1, 2, 3], "norm": ["bn", "convnorm"], "eps": [8 / 255, 4 / 255]}
    assert fixed == {"lr": "1e-3", "eval_steps": "10,20", "data": "digits"}


@pytest.mark.parametrize("extra,message", [
    ([], "nothing to search over"),
    (["--width", "4,0"], "width must be >= 1, got 0"),
    (["--width", "8..4"], "the range '8..4' is empty"),
    (["--width", "4,8", "--run-dir", "/proc/search"], "search folder '/proc/search' is not writable"),
    (["--width", "4,8", "--tuner", "anneal"], "unknown tuner 'anneal'"),
    (["--width", "4,8", "--max-trials", "0"], "max trials must be >= 1"),
])
def test_bad_searches_are_one_line_errors_before_any_trial(capsys, tmp_path, extra, message):
    argv = [*SEARCH, "--run-dir", str(tmp_path / "s"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not list(tmp_path.glob("s/trial_*"))


def test_a_search_from_the_command_line(capsys, tmp_path):
    out = tmp_path / "s"
    assert main([*SEARCH, "--width", "4,8", "--run-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| trial | width |" in printed and "Best trial" in printed
    assert "Running Trial" not in printed and "trial 0000: width=" in printed  # one numbering: the trial id
    rows = json.loads((out / "trials.json").read_text())
    assert sorted(r["hyperparameters"]["width"] for r in rows) == [4, 8]
    assert (out / "best" / "model.keras").exists() and (out / "best" / "saved_model").is_dir()
    assert (out / "pareto.png").exists() and not (out / "trials").exists()
    best, other = (out / f"trial_{rows[0]['trial_id']}", out / f"trial_{rows[1]['trial_id']}")
    assert (best / "trial.json").exists() and (best / "config.yaml").exists()  # one folder per trial
    assert (best / "saved_model").is_dir() and not (other / "saved_model").exists()  # only the best is exported
    assert json.loads((other / "metrics.json").read_text())["export"]["status"] == "skipped"
    assert "export: false" in (other / "config.yaml").read_text()


def test_a_search_killed_midway_resumes_the_trial_from_its_last_epoch(tmp_path):
    import subprocess
    import sys

    import tensorflow as tf

    from tests.cli.killing import kill_after_checkpoint

    out = tmp_path / "s"
    argv = [sys.executable, "-m", "kerobust.cli", "tune", "--arch", "basicnet", "--width", "4,8", "--epochs", "8",
            "--train-method", "natural", "--val-points", "32", "--eval-steps", "2", "--diagnostics-points", "0",
            "--run-dir", str(out)]
    done = kill_after_checkpoint(argv, out / "trial_0000" / "checkpoints" / "LATEST")
    assert 2 <= done < 8 and not (out / "trial_0000" / "metrics.json").exists()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "trials.json").read_text())
    assert sorted(r["trial_id"] for r in rows) == ["0000", "0001"] and all(r["status"] == "COMPLETED" for r in rows)
    assert len(json.loads((out / "trial_0000" / "metrics.json").read_text())["history"]["loss"]) == 8
    steps = set()  # the killed session's epochs and the resumed session's, in the trial's one TensorBoard run
    for path in (out / "trial_0000" / "logs").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps |= {event.step for value in event.summary.value if value.tag == "loss/training"}
    assert steps == set(range(8))


def test_one_chief_and_two_workers_on_localhost_share_a_grid_with_every_trial_done_once(tmp_path):
    """KerasTuner's own gRPC chief / worker mode: the chief serves the oracle, the workers run the trials."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "s"
    argv = [sys.executable, "-m", "kerobust.cli", *SEARCH, "--width", "4,6,8", "--run-dir", str(out)]
    processes = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port))
        processes[tuner_id] = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = {tuner_id: process.communicate(timeout=600) for tuner_id, process in processes.items()}
    for tuner_id, process in processes.items():
        assert process.returncode == 0, (tuner_id, outputs[tuner_id][1][-2000:])
    rows = json.loads((out / "trials.json").read_text())  # written by the chief
    assert sorted(r["hyperparameters"]["width"] for r in rows) == [4, 6, 8]
    assert all(r["status"] == "COMPLETED" for r in rows)
    run_by = {}
    for tuner_id in ("tuner0", "tuner1"):
        assert "worker finished" in outputs[tuner_id][0]
        for row in rows:
            if f"trial {row['trial_id']}:" in outputs[tuner_id][0]:
                run_by.setdefault(row["trial_id"], []).append(tuner_id)
    assert sorted(run_by) == sorted(r["trial_id"] for r in rows)
    assert all(len(workers) == 1 for workers in run_by.values())  # every trial done once, by one worker
    assert "Best trial" in outputs["chief"][0]
