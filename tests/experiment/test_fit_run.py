"""`kerobust.experiment.run`: the fit job as a library call."""

import json

import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.experiment import FitConfig, FitResult, run

pytestmark = pytest.mark.smoke


@pytest.mark.slow_on_jax
def test_run_returns_the_trained_classifier_its_evaluation_and_the_written_files(tmp_path, digits, capsys):
    config = FitConfig(arch="basicnet", width=4, epochs=1, train_method="fgsm", val_points=32, eval_steps=[2],
                       diagnostics_points=0, run_dir=str(tmp_path / "run"))
    result = run(config, log=lambda line: None)
    assert isinstance(result, FitResult) and capsys.readouterr().out == ""  # a quiet library call
    assert config.eps is None and result.config.eps == 0.2  # the caller's config is left as it was
    assert result.config.step_size == pytest.approx(0.05) and result.config.eval_step_size == pytest.approx(0.025)
    written = json.loads(open(result.metrics_path).read())
    assert written["export"]["status"] == "ok" and written["clean"]["top1"] == result.evaluation.clean_top1
    predicted = np.argmax(np.asarray(result.classifier(digits.x_test)), axis=1)
    assert np.mean(predicted == digits.y_test) == pytest.approx(result.evaluation.clean_top1)
    import keras

    reloaded = keras.saving.load_model(result.model_path)
    np.testing.assert_allclose(np.asarray(reloaded(digits.x_test[:8])),
                               np.asarray(result.classifier(digits.x_test[:8])), atol=1e-5)


@pytest.mark.parametrize("options,message", [
    ({"arch": "basicnet", "k": 3}, "architecture 'basicnet' does not take --k"),
    ({"arch": "wrm"}, "unknown architecture 'wrm'"),
    ({"dropout": 1.0}, "dropout rate must be in [0, 1)"),
    ({"threat_norm": "linf", "eps": 1.0}, "covers the whole [0, 1] input box"),
    ({"epochs": "2"}, "FitConfig.epochs must be a whole number, got '2' (str)"),
    ({"lr": float("nan")}, "FitConfig.lr must be a finite number"),
    ({"restore_best": 1}, "FitConfig.restore_best must be true or false, got 1 (int)"),
    ({"eval_steps": [10, "20"]}, "FitConfig.eval_steps must be a list of whole numbers"),
    ({"arch": 5}, "FitConfig.arch must be a string, got 5 (int)"),
])
def test_bad_configs_are_refused_before_any_folder_is_made(tmp_path, options, message):
    with pytest.raises(KerobustError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        run(FitConfig(run_dir=str(tmp_path / "run"), **options), log=lambda line: None)
    assert not (tmp_path / "run").exists()


def test_free_training_replays_with_step_eps_and_warms_up_over_whole_passes(digits):
    """Free training's step defaults to eps (Shafahi et al.), not PGD's; the warm-up counts optimizer steps: passes x
    batches per pass (1293 digits / 128 = 11) x replays."""
    from kerobust.data.registry import threat_model_for
    from kerobust.experiment.config import architecture_options, fill_dataset_defaults
    from kerobust.experiment.fit_run import _build

    config = fill_dataset_defaults(FitConfig(arch="basicnet", width=4, train_method="free", replays=3,
                                             eps_warmup_epochs=2), threat_model_for("digits"))
    assert config.step_size == config.eps == 0.2
    _, trainer = _build(config, digits, architecture_options(config))
    assert trainer.method.warmup_steps == 2 * 11 * 3 and trainer.method.step == 0.2
    pgd = fill_dataset_defaults(FitConfig(train_method="pgd"), threat_model_for("digits"))
    assert pgd.step_size == pytest.approx(0.05)


def test_autoattack_is_added_to_the_test_evaluation_when_asked():
    from kerobust.data.registry import threat_model_for
    from kerobust.experiment.config import fill_dataset_defaults
    from kerobust.experiment.fit_run import evaluation_attacks

    class Digits:  # what evaluation_attacks reads of a dataset
        threat_model, num_classes = threat_model_for("digits"), 10

    def names(**options):
        config = fill_dataset_defaults(FitConfig(**options), Digits.threat_model)
        return [a.describe().split()[0] for a in evaluation_attacks(config, Digits)]

    assert names() == ["FGSM", "PGD-20"]
    assert names(autoattack=True) == ["FGSM", "PGD-20", "autoattack"]
