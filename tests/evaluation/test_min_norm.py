"""The robust-accuracy curve from FAB-T's smallest perturbations: on a linear classifier it equals the exact robust
accuracy at every radius (the exact smallest perturbation is a linear programme), and `kerobust eval --min-norm`
prints it and stores it in the JSON."""

import json

import numpy as np
import pytest

from kerobust.evaluation.min_norm import MinimalPerturbations, format_curve, minimal_perturbations
from tests.attacks.test_fab import exact_linf


def test_the_curve_counts_points_whose_smallest_perturbation_exceeds_eps():
    found = MinimalPerturbations("FAB-T-100 x9 targets", "linf", np.array([0.0, 0.05, 0.1, 0.3, np.inf]))
    assert found.curve([0.0, 0.05, 0.2, 1.0]) == [(0.0, 0.8), (0.05, 0.6), (0.2, 0.4), (1.0, 0.2)]
    assert found.summary() == {"points": 5, "misclassified": 1, "not_found": 1, "median": 0.1,
                               "mean": pytest.approx(0.15)}
    assert found.to_json([0.1])["norms"] == [0.0, 0.05, 0.1, 0.3, None]
    table = format_curve({"m": found}, [0.05])
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert rows[2:] == [["0.05", "60.00"], ["median smallest perturbation", "0.1"]]


@pytest.mark.slow_on_jax
def test_on_a_linear_classifier_the_curve_is_the_exact_robust_accuracy(linear_digits, digits):
    model, w, b = linear_digits
    x, y = digits.x_test[:40], digits.y_test[:40]
    found = minimal_perturbations(model, x, y, "linf", targets=9, progress=False)
    predicted = np.argmax(x.reshape(len(x), -1) @ w + b, axis=1)
    exact = np.array([exact_linf(w, b, p.ravel().astype("float64"), label) if label == q else 0.0
                      for p, label, q in zip(x, y, predicted)])
    assert np.all(found.norms >= exact * (1 - 1e-4))
    np.testing.assert_allclose(found.norms, exact, rtol=1e-2, atol=1e-6)
    for eps in np.quantile(exact[exact > 0], [0.2, 0.5, 0.8]):  # found within 1 % above exact: the curve between
        assert np.mean(exact > eps) <= found.robust_accuracy(eps) <= np.mean(1.01 * exact > eps)


@pytest.mark.slow_on_jax
def test_eval_min_norm_prints_the_curve_and_writes_it(linear_digits, tmp_path, capsys):
    import keras

    from kerobust.cli.main import main

    model, _, _ = linear_digits
    path = tmp_path / "linear.keras"
    keras.saving.save_model(model, path)
    out = tmp_path / "m.json"
    argv = ["eval", "--model", str(path), "--data", "digits", "--points", "24", "--min-norm", "--eval-eps", "0.05",
            "--diagnostics-points", "0", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "smallest perturbations FAB-T-100 x9 targets found" in printed
    payload = json.loads(out.read_text())["min_norm"]
    assert [row["eps"] for row in payload["curve"]] == [0.0125, 0.025, 0.0375, 0.05, 0.075, 0.1]
    assert len(payload["norms"]) == 24
    norms = np.array([np.inf if v is None else v for v in payload["norms"]])
    assert payload["curve"][3]["robust_accuracy"] == np.mean(norms > 0.05)
    plot = tmp_path / "m_min_norm.png"
    assert f"Plot: {plot}" in printed and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_min_norm_refuses_to_replace_a_foreign_file_at_its_plot_path(linear_digits, tmp_path, capsys):
    import keras

    from kerobust.cli.main import main

    model, _, _ = linear_digits
    path = tmp_path / "linear.keras"
    keras.saving.save_model(model, path)
    mine = tmp_path / "m_min_norm.png"
    mine.write_bytes(b"a user's picture")
    argv = ["eval", "--model", str(path), "--data", "digits", "--points", "8", "--min-norm", "--json",
            str(tmp_path / "m.json")]
    assert main(argv) == 2
    assert "--min-norm plot" in capsys.readouterr().err
    assert mine.read_bytes() == b"a user's picture" and not (tmp_path / "m.json").exists()


def test_the_plot_draws_each_models_curve_down_to_its_largest_perturbation(tmp_path, monkeypatch):
    import matplotlib.axes

    from kerobust.evaluation.min_norm import plot_curve

    drawn, step = [], matplotlib.axes.Axes.step

    def recorded(self, x, y, **options):
        drawn.append((list(x), list(y)))
        return step(self, x, y, **options)

    monkeypatch.setattr(matplotlib.axes.Axes, "step", recorded)
    found = MinimalPerturbations("FAB-T-100 x9 targets", "linf", np.array([0.0, 0.05, 0.1, 0.3, np.inf]))
    plot_curve({"m": found}, str(tmp_path / "c.png"), marks=[0.1])
    (eps, accuracy), = drawn
    assert eps == pytest.approx([0.0, 0.05, 0.1, 0.3, 0.315])
    assert accuracy == pytest.approx([80.0, 60.0, 40.0, 20.0, 20.0])  # the point with none found stays robust
