"""The study scripts answer bad arguments in one line with exit status 2, before any training."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("script,argv,message", [
    ("lenet_lrn_bounds", ["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    ("lenet_lrn_bounds", ["--archs", "lenet5:bx"], "unknown name 'bx'. Did you mean 'bn'?"),
    ("norm_regularisation_table", ["--only", "l3"], "--only: unknown name 'l3'. Did you mean 'l1'?"),
    ("norm_regularisation_table", ["--points", "-5"], "argument --points: must be >= 1, got -5"),
    ("norm_regularisation_table", ["--archs", "basicnet", "--data", "digitz"], "unknown dataset 'digitz'"),
    ("width_normalisation_study", ["--ks", "0"], "whole numbers from 1 to 64"),
    ("certified_training", ["--trainings", "pgd,trade"], "--trainings: unknown name 'trade'. Did you mean 'trades'?"),
])
def test_bad_study_arguments_are_one_line(script, argv, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", f"apps.{script}", *argv, "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert message in result.stderr and not (tmp_path / "out").exists()
