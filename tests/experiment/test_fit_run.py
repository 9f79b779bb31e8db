"""`kerobust.experiment.run`: the fit job as a library call."""

import json

import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.experiment import FitConfig, FitResult, run

pytestmark = pytest.mark.smoke


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
    np.testing.assert_allclose(np.asarray(reloaded(digits.x_test[:8])), np.asarray(result.classifier(digits.x_test[:8])),
                               atol=1e-5)


@pytest.mark.parametrize("options,message", [
    ({"arch": "basicnet", "k": 3}, "architecture 'basicnet' does not take --k"),
    ({"arch": "wrm"}, "unknown architecture 'wrm'"),
    ({"dropout": 1.0}, "dropout rate must be in [0, 1)"),
    ({"threat_norm": "linf", "eps": 1.0}, "covers the whole [0, 1] input box"),
])
def test_bad_configs_are_refused_before_any_folder_is_made(tmp_path, options, message):
    with pytest.raises(KerobustError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        run(FitConfig(run_dir=str(tmp_path / "run"), **options), log=lambda line: None)
    assert not (tmp_path / "run").exists()
