"""`kerobust export`: the signatures it writes, the run's eps as the certify default, and refusals that keep what is
already on disk."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from kerobust.cli.main import main
from kerobust.output_paths import written_by


@pytest.fixture
def saved(natural_digits_net, tmp_path):
    path = tmp_path / "run" / "model.keras"
    path.parent.mkdir()
    natural_digits_net.save(path)
    return path


def test_export_writes_serving_and_certify_signatures_at_the_runs_eps(saved, tmp_path, capsys):
    (saved.parent / "config.yaml").write_text("threat_norm: l2\neval_eps: 0.03\n")
    assert main(["export", "--model", str(saved), "--out", str(tmp_path / "sm")]) == 0
    out = capsys.readouterr().out
    assert "at l2 eps 0.03" in out and "best of ibp, crown-ibp, lipschitz" in out
    signatures = set(tf.saved_model.load(str(tmp_path / "sm")).signatures)
    assert {"serving_default", "certify", "certify_at_radius"} <= signatures
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", str(tmp_path / "sm"), "--all"], capture_output=True, text=True)
    assert "signature_def['serving_default']" in shown.stdout and "signature_def['certify']" in shown.stdout
    assert "outputs['certified_radius']" in shown.stdout and "inputs['radius']" in shown.stdout
    assert written_by(str(tmp_path / "sm")) == "kerobust export"
    assert main(["export", "--model", str(saved), "--out", str(tmp_path / "sm"), "--eps", "0.01"]) == 0  # replaced


def test_without_a_radius_there_is_no_certify_signature(saved, tmp_path, capsys):
    assert main(["export", "--model", str(saved), "--out", str(tmp_path / "sm")]) == 0
    assert "no certify signature: no certification radius given" in capsys.readouterr().out
    assert "certify" not in tf.saved_model.load(str(tmp_path / "sm")).signatures


def test_a_folder_that_is_not_a_saved_model_is_refused_and_kept(saved, tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    assert main(["export", "--model", str(saved), "--out", str(folder), "--eps", "0.1"]) == 2
    assert "holds something other than a SavedModel" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_another_norm_than_the_runs_needs_its_own_eps(saved, tmp_path, capsys):
    (saved.parent / "config.yaml").write_text("threat_norm: linf\neval_eps: 0.2\n")
    assert main(["export", "--model", str(saved), "--out", str(tmp_path / "sm"), "--threat-norm", "l2"]) == 0
    assert "no certify signature: no certification radius given" in capsys.readouterr().out


def test_onnx_export_writes_one_checked_file_and_refuses_certify_options(saved, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", "--model", str(saved), "--out", str(out), "--format", "onnx"]) == 0
    assert "(ONNX; logits within" in capsys.readouterr().out and written_by(str(out)) == "kerobust export"
    before = out.read_bytes()
    assert main(["export", "--model", str(saved), "--out", str(out), "--format", "onnx", "--eps", "0.1"]) == 2
    assert "an ONNX export has none" in capsys.readouterr().err
    assert main(["export", "--model", str(saved), "--out", str(tmp_path), "--format", "onnx"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert out.read_bytes() == before
