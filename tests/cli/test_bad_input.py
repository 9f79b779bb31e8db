"""Every user error is one line on stderr, exit status 2, no traceback, and nothing half-written."""

import numpy as np
import pytest

from kerobust.cli.main import main

QUICK = ["--arch", "basicnet", "--epochs", "1", "--val-points", "0", "--steps", "1"]


def _run(capsys, argv):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse errors
        status = exit_.code
    err = capsys.readouterr().err.strip()
    return status, err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["fit", "--arch", "wrm"], "unknown architecture 'wrm'. Did you mean 'wrn'?"),
        (["fit", "--data", "digit"], "unknown dataset 'digit'. Did you mean 'digits'?"),
        (["fit", "--train-method", "pdg"], "unknown training method 'pdg'. Did you mean 'pgd'?"),
        (["fit", "--optimizer", "adamx"], "unknown optimizer 'adamx'"),
        (["fit", "--eps", "-0.1"], "eps must be >= 0, got -0.1"),
        (["fit", "--steps", "0"], "steps must be >= 1, got 0"),
        (["fit", "--k", "0"], "k must be >= 1, got 0"),
        (["fit", "--k", "two"], "k: not a number: 'two'"),
        (["fit", "--epochs", "2.5"], "epochs: not a whole number"),
        (["fit", "--arch", "basicnet", "--k", "2"], "architecture 'basicnet' does not take --k"),
        (["fit", "--kk", "2"], "unrecognized arguments: --kk 2 (did you mean --k?)"),
        (["eval", "--model", "missing.keras", "--data", "digits"], "model file 'missing.keras' does not exist"),
        (["eval", "--model", "x.keras", "--data", "digits", "--eval-eps", "-1"], "eval eps must be >= 0"),
        (["eval", "--model", "x.keras", "--data", "digits", "--attacks", "pgd,cw"], "unknown attack 'cw'"),
        (["eval", "--model", "x.keras", "--data", "digits", "--eot", "0"], "eot must be >= 1"),
        (["eval", "--model", "x.keras", "--data", "digits", "--eval-eps", "0.1,x"], "eval eps: not a number: 'x'"),
        (["fit", "--train-method", "mat-rand", "--threat-norm", "l2"], "keep --threat-norm linf"),
        (["fit", "--lr-schedule", "cosin"], "unknown learning-rate schedule 'cosin'. Did you mean 'cosine'?"),
        (["fit", "--restore-best", "maybe"], "restore_best: not true or false: 'maybe'"),
        (["fit", "--adversarial-share", "1.5"], "adversarial share must be in (0, 1]"),
        (["fit", "--mix", "rows"], "unknown mix 'rows'"),
        (["fit", "--val-points", "0", "--patience", "2"], "need robust validation"),
        (["fit", "--norm-decay", "l3"], "unknown norm decay norm 'l3'. Did you mean 'l1'?"),
        (["fit", "--norm-decay", "linf", "--nd-gamma", "1"], "gamma (momentum) must be in [0, 1)"),
        (["fit", "--norm-decay", "l1", "--nd-beta=-1e-3"], "norm decay beta must be >= 0"),
        (["fit", "--svc", "0"], "svc (the singular value limit) must be > 0"),
        (["fit", "--svc", "1", "--svc-every", "0"], "svc every must be >= 1 batch"),
        (["fit", "--train-method", "lipschitz-margin"],
         "lipschitz-margin training certifies l2 balls: pass --threat-norm l2"),
        (["fit", "--train-method", "pgd", "--kappa-end", "0.5"], "--kappa-end is for certified training"),
        (["fit", "--trades-beta", "3"], "--trades-beta is TRADES's KL weight (--train-method trades), not 'pgd'"),
        (["fit", "--train-method", "trades", "--mart-beta", "3"], "--mart-beta is MART's KL weight"),
        (["fit", "--train-method", "free", "--awp", "0.01"],
         "--awp is for adversarial training on one batch per step (--train-method fgsm / pgd / trades"),
        (["fit", "--train-method", "alp", "--alp-weight=-1"], "--alp-weight must be >= 0"),
        (["fit", "--train-method", "sabr", "--sabr-lambda", "0"], "--sabr-lambda must be in (0, 1]"),
        (["fit", "--train-method", "ibp", "--mtl-alpha", "0.2"], "--mtl-alpha is MTL-IBP's IBP weight"),
        (["fit", "--train-method", "lipschitz-margin", "--threat-norm", "l2", "--ibp-init", "true"],
         "--ibp-init is for certified training on interval bounds"),
    ],
)
def test_one_line_errors(capsys, argv, message):
    status, err = _run(capsys, argv)
    assert status == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err


@pytest.mark.parametrize(
    "text,message",
    [("arch: wrn\nlearning_rate: 0.1\n", "unknown config key in .* 'learning_rate'"),
     ("arch: [wrn\n", "not valid YAML"), ("- wrn\n", "must hold a mapping")],
)
def test_malformed_configs(capsys, tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    status, err = _run(capsys, ["fit", "--config", str(path)])
    assert status == 2 and len(err.splitlines()) == 1
    import re

    assert re.search(message, err)


def test_unwritable_run_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, err = _run(capsys, ["fit", "--run-dir", str(blocker / "run")] + QUICK)
    assert status == 2 and "is not writable" in err


def test_nan_in_the_data_is_refused_before_training(capsys, tmp_path):
    x = np.random.rand(40, 8, 8).astype("float32")
    x[3, 2, 2] = np.nan
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(40) % 4, x_test=x[:8], y_test=np.arange(8) % 4)
    run_dir = tmp_path / "run"
    status, err = _run(capsys, ["fit", "--data", f"npz:{tmp_path / 'd.npz'}", "--run-dir", str(run_dir)] + QUICK)
    assert status == 2 and "1 NaN or infinite values" in err
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "model.keras").exists()


def test_nan_loss_stops_with_one_line_and_no_half_written_results(capsys, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["fit", "--run-dir", str(run_dir), "--optimizer", "sgd", "--lr", "1e30", "--train-method", "natural"] + QUICK
    status, err = _run(capsys, argv)
    assert status == 2 and len(err.splitlines()) == 1
    assert "training loss became nan" in err and "Lower --lr" in err
    assert not run_dir.exists()  # the run failed before its first checkpoint: the folder it created is gone


def test_a_different_run_in_the_same_folder_is_refused(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("arch: basicnet\nlr: 0.5\n")
    status, err = _run(capsys, ["fit", "--run-dir", str(run_dir)] + QUICK)
    assert status == 2 and "holds a different run (" in err and "--lr 0.5 there, 0.001 now" in err
    assert "fit_epochs" not in err and "_" not in err.split("(")[1]  # flags, never field names
    assert (run_dir / "config.yaml").read_text() == "arch: basicnet\nlr: 0.5\n"


def test_a_folder_from_an_older_kerobust_resumes_when_new_keys_hold_their_defaults(tmp_path):
    import dataclasses

    import yaml

    from kerobust.experiment.config import FitConfig
    from kerobust.experiment.run_folder import prepare_run_folder
    from kerobust.errors import KerobustError

    defaults = dataclasses.asdict(FitConfig())
    old = {k: v for k, v in defaults.items() if k not in ("nd_beta", "svc_every", "svc_operator")}
    old["autoattack"] = False  # as a finished run writes it, resolved
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    prepare_run_folder(str(tmp_path), yaml.safe_dump({**defaults, "autoattack": False}), defaults=defaults)
    with pytest.raises(KerobustError, match=r"\(--svc-every 100 there, 7 now\)"):
        prepare_run_folder(str(tmp_path), yaml.safe_dump({**defaults, "svc_every": 7, "autoattack": False}),
                           defaults=defaults)
    with pytest.raises(KerobustError, match=r"\(--autoattack false there, true now\).* add --reevaluate"):
        prepare_run_folder(str(tmp_path), yaml.safe_dump({**defaults, "autoattack": True}), defaults=defaults)
    prepare_run_folder(str(tmp_path), yaml.safe_dump({**defaults, "autoattack": True}), defaults=defaults,
                       may_differ=("autoattack",))  # what --reevaluate allows


@pytest.mark.smoke
@pytest.mark.parametrize("input_shape,classes,message", [
    ((8, 8, 1), 5, "outputs (5,) logits; digits has 10 classes"),
    ((4, 4, 1), 10, "takes inputs of shape (4, 4, 1)"),
])
def test_a_model_that_does_not_fit_the_data_is_refused_on_every_backend(capsys, tmp_path, input_shape, classes,
                                                                         message):
    """On JAX a 5-logit model silently scored 10-class labels before this check."""
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(classes)])
    model.save(tmp_path / "m.keras")
    for command in ("eval", "bound"):
        status, err = _run(capsys, [command, "--model", str(tmp_path / "m.keras"), "--data", "digits"])
        assert status == 2 and len(err.splitlines()) == 1 and message in err
