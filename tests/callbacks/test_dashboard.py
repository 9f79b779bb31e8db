"""The robustness dashboard: after a short `kerobust fit`, the event files hold per-attack robust-accuracy scalars,
layer-norm scalars, certified accuracy, histograms, the adversarial-example image and the hparams session, read back
with TensorBoard's own event reader; costly summaries follow `--dashboard-every`."""

import glob
import io
import json
import os

import numpy as np
import pytest

from kerobust.callbacks.example_grid import example_grid_png
from kerobust.callbacks.hparams import hparam_values
from kerobust.cli.main import main


def read_summaries(logs_dir):
    """`{run: {tag: (plugin name, {step: value})}}` for every event file under `logs_dir` (run: the subfolder)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    runs = {}
    for path in glob.glob(os.path.join(logs_dir, "**", "events.out.tfevents.*"), recursive=True):
        run = os.path.relpath(os.path.dirname(path), logs_dir)
        events = EventAccumulator(path, size_guidance={"tensors": 0})
        events.Reload()
        tags = runs.setdefault(run, {})
        for tag in events.Tags()["tensors"]:
            plugin = events.SummaryMetadata(tag).plugin_data.plugin_name
            values = {e.step: tensor_util.make_ndarray(e.tensor_proto) for e in events.Tensors(tag)}
            tags.setdefault(tag, (plugin, {}))[1].update(values)
    return runs


@pytest.fixture(scope="module")
def dashboard_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dashboard") / "pgd"
    argv = ["fit", "--arch", "basicnet", "--data", "digits", "--train-method", "pgd", "--epochs", "3",
            "--dashboard-every", "2", "--val-points", "64", "--diagnostics-points", "0", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    return run_dir, read_summaries(str(run_dir / "logs"))


def test_the_issues_command_writes_every_kind_of_summary(dashboard_run):
    run_dir, runs = dashboard_run
    dashboard = runs["dashboard"]
    plugins = {plugin for plugin, _ in dashboard.values()}
    assert {"scalars", "histograms", "images"} <= plugins
    robust = [t for t in dashboard if t.startswith("robust_validation/") and t != "robust_validation/clean"]
    assert sorted(robust) == ["robust_validation/fgsm", "robust_validation/pgd-20"]
    assert "certification/certified_accuracy" in dashboard and "certification/lipschitz_product" in dashboard
    norms = [t for t in dashboard if t.startswith("norm_")]
    layers = {t.split("/")[0] for t in norms}
    assert layers and all({f"{layer}/l1", f"{layer}/linf", f"{layer}/l2"} <= set(norms) for layer in layers)
    assert any(t.startswith("kernels/") for t in dashboard) and "certification/margin_lower_bound" in dashboard
    hparams = {plugin for tags in runs.values() for plugin, _ in tags.values()}
    assert "hparams" in hparams
    assert "final/clean_accuracy" in runs["."]


def test_scalars_match_the_run_and_costly_summaries_follow_dashboard_every(dashboard_run):
    run_dir, runs = dashboard_run
    dashboard = runs["dashboard"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics["history"]
    _, pgd = dashboard["robust_validation/pgd-20"]
    assert sorted(pgd) == [0, 1, 2]  # epochs from 0, as Keras's own epoch scalars
    np.testing.assert_allclose([float(pgd[s]) for s in (0, 1, 2)], history["val_robust_accuracy"], atol=1e-6)
    _, norms = next(v for t, v in dashboard.items() if t.startswith("norm_"))
    assert sorted(norms) == [1, 2]  # every 2 epochs (the second) and at the last (the third)
    row = metrics["layer_norms"][0]
    assert float(dashboard[f"norm_{row['name']}/l1"][1][2]) == pytest.approx(row["l1"], rel=1e-5)
    _, clean = runs["."]["final/clean_accuracy"]
    assert float(clean[2]) == pytest.approx(metrics["clean"]["top1"])
    _, keras_pgd = runs["validation"]["epoch_pgd-20_accuracy"]
    assert sorted(keras_pgd) == sorted(pgd)  # the dashboard's curves line up with Keras's
    assert metrics["dashboard"]["every"] == 2 and metrics["dashboard"]["seconds"] > 0


def test_the_example_image_has_three_rows_of_the_fixed_points(dashboard_run):
    _, runs = dashboard_run
    plugin, images = runs["dashboard"]["adversarial_examples"]
    assert plugin == "images" and sorted(images) == [1, 2]
    width, height = (int(v) for v in images[2][:2])
    assert width > 3 * height / 2  # eight columns, three rows


def test_example_grid_is_a_png_of_the_requested_points():
    from PIL import Image

    clean = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    png = example_grid_png(clean, np.clip(clean + 0.1, 0, 1), [1, 2, 3, 4], [1, 2, 3, 4], [1, 0, 3, 9])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > image.size[1]


def test_hparam_values_are_plain_types():
    values = hparam_values({"eps": 0.1, "milestones": [20, 30], "width": None, "free_box": False, "k": np.int64(4)})
    assert values == {"eps": 0.1, "milestones": "20,30", "free_box": False, "k": 4} and type(values["k"]) is int
