"""`kerobust fit` from flags to exported model, resumption after a kill, and `kerobust eval` on the result."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
import tensorflow as tf

from kerobust.cli.main import main
from tests.cli.killing import kill_after_checkpoint

FAST = ["--arch", "basicnet", "--data", "digits", "--val-points", "64", "--steps", "2", "--eval-steps", "5"]


@pytest.fixture(scope="module")
def free_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "free"
    assert main(["fit", *FAST, "--train-method", "free", "--replays", "2", "--epochs", "4",
                 "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_run_folder_contents(free_run):
    assert ({"config.yaml", "metrics.json", "model.keras", "saved_model", "logs", "checkpoints"}
            <= set(os.listdir(free_run)))
    metrics = json.loads((free_run / "metrics.json").read_text())
    assert 0 <= metrics["clean"]["top1"] <= metrics["clean"]["top5"] <= 1
    assert [(a["name"], a["steps"]) for a in metrics["attacks"]] == [("FGSM", 1), ("PGD", 5)]
    assert metrics["epochs"] == 2  # free training: 4 epochs / 2 replays
    assert len(metrics["history"]["val_robust_accuracy"]) == 2
    assert "fit_epochs: 2" in (free_run / "config.yaml").read_text()
    bounds = metrics["bounds"]
    assert bounds["mode"] == "sound" and bounds["points"] == metrics["num_points"]
    assert 0 < bounds["min"] <= bounds["median"] <= bounds["max"]
    shares = [bounds["certified"][eps]["share"] for eps in ("0.05", "0.1", "0.25", "0.5")]
    assert shares == sorted(shares, reverse=True) and all(0 <= s <= 1 for s in shares)


def test_exported_saved_model_matches_the_keras_file(free_run, digits):
    import keras

    model = keras.saving.load_model(str(free_run / "model.keras"))
    served = tf.saved_model.load(str(free_run / "saved_model"))
    np.testing.assert_allclose(np.asarray(served.serve(tf.constant(digits.x_test))), np.asarray(model(digits.x_test)),
                               atol=1e-5)


def _tags(folder):
    tags = {}
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_tensorboard_logs_hold_loss_and_clean_and_robust_validation_accuracy_per_epoch(free_run):
    tags = _tags(free_run / "logs")  # one TensorBoard run: the dashboard's
    assert tags["loss/training"] == [0, 1] and tags["loss/validation"] == [0, 1]
    assert tags["accuracy/clean"] == [0, 1] and tags["accuracy/pgd-5"] == [0, 1]


def test_eval_command_reproduces_the_run_metrics(free_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(free_run / "model.keras"), "--data", "digits", "--eval-steps", "5",
                 "--json", str(out)]) == 0
    assert "| top-1 " in capsys.readouterr().out
    fitted, evaluated = json.loads((free_run / "metrics.json").read_text()), json.loads(out.read_text())
    assert evaluated["clean"] == fitted["clean"]
    assert evaluated["attacks"] == fitted["attacks"]


def test_eval_compares_models_over_attack_lists_and_an_eps_sweep(free_run, natural_digits_net, tmp_path, capsys):
    other = tmp_path / "natural.keras"
    natural_digits_net.save(other)
    out = tmp_path / "sweep.json"
    argv = ["eval", "--model", str(free_run / "model.keras"), "--model", str(other), "--data", "digits",
            "--attacks", "fgsm,pgd-5,apgd-ce-10,square-50", "--eval-eps", "0.05,0.1", "--points", "64",
            "--diagnostics-points", "32", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert any(line.startswith("| Model") and "eps=0.05" in line and "eps=0.1" in line for line in printed.splitlines())
    payload = json.loads(out.read_text())
    assert [m["model"] for m in payload["models"]] == [str(free_run / "model.keras"), str(other)]
    for model in payload["models"]:
        assert [(a["name"], a["eps"]) for a in model["attacks"]] == [
            (name, eps) for eps in (0.05, 0.1) for name in ("FGSM", "PGD", "APGD-CE", "Square")
        ]
        assert model["num_points"] == 64 and isinstance(model["masking_warnings"], list)
        summary = model["robustbench"]
        assert summary["threat_model"] == "Linf" and summary["eps"] == 0.05 and summary["dataset"] == "digits"
        assert summary["robust_acc"] == round(100 * model["worst_case"][0]["top1"], 2)
        assert summary["attacks"] == [a["description"] for a in model["attacks"][:4]]
    assert (tmp_path / "sweep_eps_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_runs_the_autoattack_suite(free_run, tmp_path):
    out = tmp_path / "aa.json"
    argv = ["eval", "--model", str(free_run / "model.keras"), "--data", "digits", "--attacks", "autoattack",
            "--square-queries", "30", "--points", "32", "--diagnostics-points", "0", "--json", str(out)]
    assert main(argv) == 0
    payload = json.loads(out.read_text())
    assert [a["name"] for a in payload["attacks"]] == ["APGD-CE", "APGD-T", "FAB-T", "Square", "autoattack"]
    assert payload["robustbench"]["autoattack_acc"] == round(100 * payload["attacks"][-1]["top1"], 2)
    assert payload["masking_warnings"] == []


def test_mat_rand_with_mixed_batches_cosine_schedule_and_early_stopping(tmp_path):
    run_dir = tmp_path / "mat"
    argv = ["fit", *FAST, "--train-method", "mat-rand", "--adversarial-share", "0.9", "--lr-schedule", "cosine",
            "--patience", "2", "--epochs", "3", "--diagnostics-points", "0", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [(a["name"], a["norm"]) for a in metrics["attacks"]] == [
        ("FGSM", "linf"), ("PGD", "linf"), ("FGSM", "l2"), ("PGD", "l2")
    ]
    history = metrics["history"]["val_robust_accuracy"]
    assert metrics["best_epoch"] == 1 + int(np.argmax(history))
    assert metrics["robustbench"]["threat_model"] == "Linf"
    assert (run_dir / "best" / "best.weights.h5").exists()
    config = (run_dir / "config.yaml").read_text()
    assert "\nl2_eps: 0.5\n" in config and "\neval_l2_eps: 0.5\n" in config  # the dataset's l2 radius
    assert main(argv) == 0  # run again: already finished, restores the same best epoch without training
    assert json.loads((run_dir / "metrics.json").read_text())["best_epoch"] == metrics["best_epoch"]


def test_norm_decay_and_singular_value_clipping_flags(tmp_path):
    from kerobust.norms import circular_l2_norm

    run_dir = tmp_path / "regularised"
    argv = ["fit", *FAST, "--train-method", "fgsm", "--epochs", "1", "--norm-decay", "l1", "--nd-beta", "1e-3",
            "--svc", "1.5", "--svc-every", "4", "--diagnostics-points", "0", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["regularisers"] == [
        "l1 norm decay (beta=0.001, gamma=0.5)", "singular value clipping to 1.5 every 4 batches (circular operator)"
    ]
    convs = [row for row in metrics["layer_norms"] if row["kind"] == "conv"]
    assert len(convs) == 4 and all(row["l1"] > 0 for row in convs)
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert circular_l2_norm(np.asarray(layer.kernel), tuple(layer.input.shape[1:3])) <= 1.5 * (1 + 1e-5)
    # Norm decay really ran: the checkpoint holds its subgradient moving averages, and they moved off zero.
    from kerobust.callbacks import ResumableCheckpoint
    from kerobust.data import load_dataset
    from kerobust.models import build_model
    from kerobust.regularizers import NormDecay
    from kerobust.training import AdversarialModel, build_training_method

    digits = load_dataset("digits")
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std)
    trainer = AdversarialModel(classifier, build_training_method("fgsm", 0.2), norm_decay=NormDecay("l1", 1e-3))
    trainer.compile(keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert ResumableCheckpoint(str(run_dir / "checkpoints")).restore(trainer) == 1
    momenta = trainer.norm_decay_momenta  # one per conv and dense layer
    assert len(momenta) == 6 and all(np.abs(np.asarray(m)).max() > 0 for m in momenta)


def test_singular_value_clipping_refuses_grouped_convolutions_before_training(tmp_path, capsys):
    argv = ["fit", "--arch", "regnetx_200mf", "--epochs", "1", "--svc", "1", "--run-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "singular value clipping supports plain Conv2D layers" in capsys.readouterr().err


def _final_state(run_dir):
    """The last checkpoint's weights (model, optimizer) as arrays, and the metric history."""
    import h5py

    checkpoints = run_dir / "checkpoints"
    folder = checkpoints / (checkpoints / "LATEST").read_text().strip()
    arrays = {}
    with h5py.File(folder / "state.weights.h5", "r") as weights:
        weights.visititems(lambda name, item: arrays.update({name: item[()]})
                           if isinstance(item, h5py.Dataset) else None)
    return arrays, json.loads((run_dir / "metrics.json").read_text())["history"]


@pytest.mark.parametrize("recipe", [
    ["--train-method", "pgd", "--dropout", "0.3", "--dashboard-every", "1", "--epochs", "3"],  # dropout's seed state
    ["--train-method", "free", "--replays", "2", "--input-noise", "0.05", "--epochs", "6"],  # noise and delta states
], ids=["pgd-dropout-dashboard", "free-input-noise"])
def test_a_run_killed_mid_epoch_and_resumed_equals_the_uninterrupted_run(recipe, tmp_path):
    """Bit for bit on one CPU: the data order, the attacks' random starts, dropout's and the noise layers' random
    states, free training's perturbation and the optimizer all continue where the uninterrupted run was."""
    base = [sys.executable, "-m", "kerobust.cli.main", "fit", *FAST, "--diagnostics-points", "0", *recipe]
    whole = subprocess.run([*base, "--run-dir", str(tmp_path / "whole")], capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]
    argv = [*base, "--run-dir", str(tmp_path / "killed")]
    done = kill_after_checkpoint(argv, tmp_path / "killed" / "checkpoints" / "LATEST", epoch=1, delay=0.5)
    assert 1 <= done < 3 and not (tmp_path / "killed" / "metrics.json").exists()
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming after epoch {done}" in resumed.stdout
    (whole_weights, whole_history), (weights, history) = (_final_state(tmp_path / "whole"),
                                                          _final_state(tmp_path / "killed"))
    assert history == whole_history
    assert whole_weights.keys() == weights.keys()
    for name, value in whole_weights.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)


def test_noise_network_with_the_pni_recipe_trains_exports_and_reloads(tmp_path, digits):
    """A randomised model end to end: the saved and exported copies draw the same noise as the trained one."""
    import keras

    run_dir = tmp_path / "noisenet"
    argv = ["fit", "--arch", "noisenet20", "--noise", "layerwise", "--data", "digits", "--train-method", "pni",
            "--epochs", "1", "--steps", "1", "--eval-steps", "2", "--val-points", "32", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train_method"] == "pni" and metrics["model"] == "noisenet20-layerwise"
    assert "random at inference" in metrics["bounds"]["unavailable"]
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    scales = [float(np.asarray(layer.noise_scale)) for layer in model.layers if hasattr(layer, "noise_scale")]
    assert len(scales) == 20 and any(abs(s - 0.25) > 1e-4 for s in scales)  # the noise scales trained


def test_trades_with_adversarial_weight_perturbation_trains_from_the_command_line(tmp_path, capsys):
    run_dir = tmp_path / "trades_awp"
    argv = ["fit", "--arch", "basicnet", "--width", "4", "--data", "digits", "--train-method", "trades",
            "--trades-beta", "3", "--awp", "0.01", "--epochs", "1", "--steps", "2", "--val-points", "0",
            "--diagnostics-points", "0", "--eval-steps", "5", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "TRADES training, beta 3 (PGD-2 linf eps=0.2" in out
    assert "adversarial weight perturbation, gamma 0.01" in out
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["train_method"] == "trades" and config["trades_beta"] == 3 and config["awp"] == 0.01
    assert json.loads((run_dir / "metrics.json").read_text())["train_method"] == "trades"


def test_sabr_training_with_the_fast_ibp_init_runs_from_the_command_line(tmp_path, capsys):
    run_dir = tmp_path / "sabr"
    argv = ["fit", "--arch", "certcnn", "--width", "1", "--data", "digits", "--train-method", "sabr", "--eps", "0.1",
            "--sabr-lambda", "0.5", "--ibp-init", "true", "--epochs", "2", "--cert-warmup-epochs", "1",
            "--cert-ramp-epochs", "1", "--steps", "2", "--val-points", "0", "--diagnostics-points", "0",
            "--eval-steps", "5", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SABR training at linf eps 0.1, boxes of lambda 0.5 eps around PGD-2 points" in out
    assert "Shi et al.'s warm-up regularisers, lambda 0.5" in out
    assert "Certified accuracy at linf eps 0.1" in out
    assert json.loads((run_dir / "metrics.json").read_text())["certified"]["eps"] == 0.1


def test_crown_ibp_training_reports_certified_accuracy(tmp_path, capsys):
    """The issue's command, shortened: `kerobust fit --arch basicnet --data digits --train-method crown-ibp --eps 0.1`
    ends with a certified block in metrics.json whose numbers are the bounds of the saved model."""
    import keras

    from kerobust.bounds.linear.interval import IntervalBounds
    from kerobust.data import load_dataset

    run_dir = tmp_path / "crown_ibp"
    # A natural first epoch: two certified epochs from scratch collapse to chance (a failed run, exit status 1).
    argv = ["fit", "--arch", "basicnet", "--width", "4", "--data", "digits", "--train-method", "crown-ibp", "--eps",
            "0.1", "--epochs", "2", "--cert-warmup-epochs", "1", "--cert-ramp-epochs", "1", "--val-points", "0",
            "--diagnostics-points", "0", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    assert "Certified accuracy at linf eps 0.1" in capsys.readouterr().out
    certified = json.loads((run_dir / "metrics.json").read_text())["certified"]
    assert (certified["method"] == "ibp+crown-ibp+lipschitz" and certified["threat_norm"] == "linf"
            and certified["eps"] == 0.1)
    digits = load_dataset("digits")
    model = keras.saving.load_model(run_dir / "model.keras")
    ibp = np.mean(IntervalBounds(model)(digits.x_test, digits.y_test, 0.1) > 0)
    assert certified["by_method"]["ibp"] == pytest.approx(ibp)
    assert certified["certified_accuracy"] >= max(certified["by_method"].values())


def test_lipschitz_margin_training_reports_the_lipschitz_certified_accuracy_of_the_saved_model(tmp_path, capsys):
    import keras

    from kerobust.data import load_dataset
    from kerobust.evaluation.certification import lipschitz_margins

    run_dir = tmp_path / "lipschitz_margin"
    argv = ["fit", "--arch", "certcnn", "--data", "digits", "--train-method", "lipschitz-margin", "--threat-norm", "l2",
            "--eps", "0.1", "--epochs", "4", "--batch-size", "32", "--val-points", "0", "--diagnostics-points", "0",
            "--run-dir", str(run_dir)]
    assert main(argv) == 0
    assert "Certified accuracy at l2 eps 0.1" in capsys.readouterr().out
    certified = json.loads((run_dir / "metrics.json").read_text())["certified"]
    digits = load_dataset("digits")
    model = keras.saving.load_model(run_dir / "model.keras")
    expected = np.mean(lipschitz_margins(model, digits.x_test, digits.y_test, 0.1) > 0)
    assert certified["by_method"]["lipschitz"] == pytest.approx(expected) and expected > 0
