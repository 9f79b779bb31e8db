"""The robustness dashboard: after a short `kerobust fit`, one TensorBoard run holds per-attack accuracy scalars, the
test split's results, layer-norm scalars, certified accuracy, histograms, the adversarial-example image, the custom
scalars layout and the hparams session, read back with TensorBoard's own event reader; costly summaries follow
`--dashboard-every`."""

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


def test_one_run_holds_every_kind_of_summary_and_the_layout(dashboard_run):
    run_dir, runs = dashboard_run
    assert list(runs) == ["."]  # one TensorBoard run per training: the run folder's logs/
    tags = runs["."]
    plugins = {plugin for plugin, _ in tags.values()}
    assert {"scalars", "histograms", "images", "hparams", "custom_scalars"} <= plugins
    accuracy = sorted(t for t in tags if t.startswith("accuracy/"))
    assert accuracy == ["accuracy/certified", "accuracy/clean", "accuracy/fgsm", "accuracy/pgd-20",
                        "accuracy/training_batches"]
    assert {"loss/training", "loss/validation", "learning_rate", "certification/lipschitz_product",
            "certification/margin_lower_bound", "test/clean", "test/fgsm", "test/pgd-20"} <= set(tags)
    norms = [t for t in tags if t.startswith("layer_norms/")]
    layers = {t.split("/")[2] for t in norms}
    assert layers and all({f"layer_norms/{n}/{layer}" for n in ("l1", "linf", "l2")} <= set(norms) for layer in layers)
    assert any(t.startswith("kernels/") for t in tags)
    assert not any("robust_accuracy" in t or t.startswith("epoch_") for t in tags)  # each number logged once


def test_scalars_match_the_run_and_costly_summaries_follow_dashboard_every(dashboard_run):
    run_dir, runs = dashboard_run
    tags = runs["."]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics["history"]
    _, pgd = tags["accuracy/pgd-20"]
    assert sorted(pgd) == [0, 1, 2]  # epochs from 0, as Keras numbers them
    np.testing.assert_allclose([float(pgd[s]) for s in (0, 1, 2)], history["val_robust_accuracy"], atol=1e-6)
    np.testing.assert_allclose([float(tags["loss/training"][1][s]) for s in (0, 1, 2)], history["loss"], rtol=1e-6)
    _, norms = next(v for t, v in tags.items() if t.startswith("layer_norms/"))
    assert sorted(norms) == [1, 2]  # every 2 epochs (the second) and at the last (the third)
    row = metrics["layer_norms"][0]
    assert float(tags[f"layer_norms/l1/{row['name']}"][1][2]) == pytest.approx(row["l1"], rel=1e-5)
    _, clean = tags["test/clean"]
    assert list(clean) == [2] and float(clean[2]) == pytest.approx(metrics["clean"]["top1"])
    pgd_test = next(a for a in metrics["attacks"] if a["name"] == "PGD")["top1"]
    assert float(tags["test/pgd-20"][1][2]) == pytest.approx(pgd_test)
    assert metrics["dashboard"]["every"] == 2 and metrics["dashboard"]["seconds"] > 0


def test_the_layout_charts_clean_fgsm_pgd_and_autoattack_together_and_certified_beside_robust(dashboard_run):
    import re

    from tensorboard.plugins.custom_scalar import layout_pb2

    from kerobust.callbacks.dashboard import LAYOUT, layout_summary

    summary = layout_pb2.Layout()
    from tensorflow.core.framework import summary_pb2

    summary.ParseFromString(summary_pb2.Summary.FromString(layout_summary()).value[0].tensor.string_val[0])
    assert [c.title for c in summary.category] == [title for title, _ in LAYOUT]
    tags = list(dashboard_run[1]["."]) + ["test/autoattack"]
    charts = {chart.title: [t for t in tags if any(re.search(p, t) for p in chart.multiline.tag)]
              for category in summary.category for chart in category.chart}
    first = charts[summary.category[0].chart[0].title]
    assert sorted(first) == ["accuracy/clean", "accuracy/fgsm", "accuracy/pgd-20", "test/autoattack", "test/clean",
                             "test/fgsm", "test/pgd-20"]
    assert "accuracy/certified" in charts[summary.category[0].chart[1].title]
    assert sorted(charts[summary.category[0].chart[2].title]) == ["accuracy/pgd-20", "accuracy/training_batches"]


def test_hparams_lead_with_the_method_radius_architecture_and_epochs():
    from kerobust.callbacks.hparams import ranked_names

    names = ranked_names(["arch", "k", "adversarial_share", "batch_size", "eps", "epochs", "train_method", "norm"])
    assert sorted(names.values())[:6] == ["00 train_method", "01 eps", "02 arch", "03 k", "04 norm", "05 epochs"]
    assert names["adversarial_share"] == "06 adversarial_share"


def test_example_grid_is_a_png_of_the_requested_points():
    from PIL import Image

    clean = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    png = example_grid_png(clean, np.clip(clean + 0.1, 0, 1), [1, 2, 3, 4], [1, 2, 3, 4], [1, 0, 3, 9])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > image.size[1]


def test_hparam_values_are_plain_types():
    values = hparam_values({"eps": 0.1, "milestones": [20, 30], "width": None, "free_box": False, "k": np.int64(4)})
    assert values == {"eps": 0.1, "milestones": "20,30", "free_box": False, "k": 4} and type(values["k"]) is int
