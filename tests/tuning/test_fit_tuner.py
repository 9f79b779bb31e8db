"""A KerasTuner grid search whose trials are kerobust fit runs: every trial once, the objective reported explicitly,
resumable."""

import json

import pytest

from kerobust.errors import KerobustError
from kerobust.experiment import FitConfig
from kerobust.tuning import fit_search
from kerobust.tuning.fit_tuner import pareto_front

BASE = FitConfig(arch="basicnet", epochs=1, train_method="fgsm", val_points=32, eval_steps=[2], diagnostics_points=0)


def test_a_grid_runs_each_trial_once_reports_the_objective_and_resumes(tmp_path):
    directory = tmp_path / "search"
    rows = fit_search(BASE, {"width": [4, 8]}, str(directory), log=lambda line: None)
    assert sorted(row["hyperparameters"]["width"] for row in rows) == [4, 8]
    assert all(row["status"] == "COMPLETED" for row in rows)
    for row in rows:
        metrics = json.loads((directory / f"trial_{row['trial_id']}" / "metrics.json").read_text())
        assert row["objective"] == pytest.approx(metrics["history"]["val_robust_accuracy"][-1])  # from the run itself
        assert row["clean_accuracy"] == pytest.approx(metrics["clean"]["top1"])
    assert rows[0]["objective"] >= rows[1]["objective"]  # best first
    assert rows[0]["parameters"] != rows[1]["parameters"]
    assert json.loads((directory / "trials.json").read_text()) == rows
    assert "| trial" in (directory / "trials.md").read_text()
    assert (directory / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    best = directory / "best"
    assert (best / "TRIAL").read_text().strip() == rows[0]["trial_id"]
    assert ((best / "model.keras").read_bytes()
            == (directory / f"trial_{rows[0]['trial_id']}" / "model.keras").read_bytes())
    assert (best / "saved_model" / "saved_model.pb").exists()
    before = {row["trial_id"]: (directory / f"trial_{row['trial_id']}" / "metrics.json").stat().st_mtime
              for row in rows}
    again = fit_search(BASE, {"width": [4, 8]}, str(directory), log=lambda line: None)  # resumes: nothing retrained
    assert [r["trial_id"] for r in again] == [r["trial_id"] for r in rows]
    assert all((directory / f"trial_{t}" / "metrics.json").stat().st_mtime == m for t, m in before.items())


@pytest.mark.parametrize("space,options,message", [
    ({"widht": [4]}, {}, "FitConfig fields"),
    ({"width": [4]}, {"tuner": "annealing"}, "unknown tuner 'annealing'"),
    ({"width": [4]}, {"objective": "accuracy"}, "unknown objective 'accuracy'"),
    ({"dropout": [0.1, 1.5]}, {}, "dropout rate must be in"),  # a bad setting stops the search in one line
])
def test_bad_searches_are_one_line_errors_before_the_first_trial(tmp_path, space, options, message):
    with pytest.raises(KerobustError, match=message):
        fit_search(BASE, space, str(tmp_path / "search"), log=lambda line: None, **options)
    assert not (tmp_path / "search").exists()  # no trial ran, nothing was made


def test_pareto_front_by_hand():
    points = [(1, 0.5), (2, 0.7), (3, 0.6), (2, 0.5), (4, 0.9), (4, 0.9)]
    # (3, 0.6) loses to (2, 0.7); (2, 0.5) to (1, 0.5); the two equal (4, 0.9) beat neither each other nor are beaten.
    assert pareto_front(points) == [0, 1, 4, 5]


def test_the_certified_objective_is_the_share_certified_on_the_validation_split(tmp_path, digits):
    import numpy as np

    from kerobust.bounds import BoundEvaluator

    rows = fit_search(BASE, {"width": [4]}, str(tmp_path / "search"), objective="certified_accuracy", cert_eps=1e-4,
                      log=lambda line: None)
    import keras

    model = keras.saving.load_model(tmp_path / "search" / "best" / "model.keras")
    from kerobust.bounds.linear.crown import CrownBounds
    from kerobust.bounds.linear.interval import IntervalBounds

    x, y = digits.x_val, digits.y_val
    bounds = np.asarray(BoundEvaluator(model, "sound")(x))
    correct = np.argmax(np.asarray(model(x)), axis=1) == y
    lipschitz = correct & (bounds >= 1e-4)
    local = [f(x, y, 1e-4) > 0 for f in (IntervalBounds(model, "l2"), CrownBounds(model, "l2", intermediate="ibp"))]
    assert rows[0]["objective"] == pytest.approx(np.mean(lipschitz | local[0] | local[1]))
    assert rows[0]["objective"] >= np.mean(lipschitz)  # the tightest method per point


def test_the_autoattack_objective_is_the_suites_accuracy_on_the_robust_validation_points(tmp_path, digits):
    import keras

    from kerobust.attacks.suite import autoattack
    from kerobust.evaluation import evaluate_robustness

    rows = fit_search(BASE, {"width": [4]}, str(tmp_path / "search"), objective="val_autoattack_accuracy",
                      log=lambda line: None)
    model = keras.saving.load_model(tmp_path / "search" / "best" / "model.keras")
    x, y = digits.x_val[:32], digits.y_val[:32]
    expected = evaluate_robustness(model, x, y, [autoattack(0.2, square_queries=1000)], progress=False).attacks[-1].top1
    assert rows[0]["objective"] == pytest.approx(expected)


def test_hyperband_trains_each_trial_to_its_budget_and_continues_earlier_trials(tmp_path):
    directory = tmp_path / "search"
    base = FitConfig(arch="basicnet", epochs=3, train_method="natural", val_points=32, eval_steps=[2],
                     diagnostics_points=0)
    # Bracket 1 needs 3 distinct models at 1 epoch (KerasTuner stops a Hyperband search whose space has no new point)
    rows = fit_search(base, {"width": [4, 5, 6, 7, 8, 9]}, str(directory), tuner="hyperband", log=lambda line: None)
    assert rows and all(row["status"] == "COMPLETED" for row in rows)
    history = {row["trial_id"]: json.loads((directory / f"trial_{row['trial_id']}" / "metrics.json").read_text())
               ["history"]["loss"] for row in rows}
    continued = 0
    for row in rows:
        hp = row["hyperparameters"]
        assert len(history[row["trial_id"]]) == hp["tuner/epochs"]  # trained to the budget Hyperband gave
        if "tuner/trial_id" in hp:  # continued: the earlier trial's epochs are its first ones, not retrained
            continued += 1
            earlier = history[hp["tuner/trial_id"]]
            assert history[row["trial_id"]][: len(earlier)] == earlier
    assert continued >= 1 and {row["hyperparameters"]["tuner/epochs"] for row in rows} == {1, 3}


def test_a_trial_folder_is_keras_tuners_unless_an_older_search_put_it_under_trials(tmp_path):
    from kerobust.tuning.fit_tuner import trial_folder

    assert trial_folder(str(tmp_path), "0003") == str(tmp_path / "trial_0003")
    (tmp_path / "trials" / "0003").mkdir(parents=True)  # a search begun before 2026-12-07: resumed in place
    assert trial_folder(str(tmp_path), "0003") == str(tmp_path / "trials" / "0003")
    assert trial_folder(str(tmp_path), "0004") == str(tmp_path / "trial_0004")
