"""The study scripts answer bad arguments in one line with exit status 2, before any training."""

import os
import subprocess
import sys

import pytest

APPS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "apps")


@pytest.mark.parametrize("script,argv,message", [
    ("lenet_lrn_bounds.py", ["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    ("lenet_lrn_bounds.py", ["--archs", "lenet5:bx"], "unknown name 'bx'. Did you mean 'bn'?"),
    ("norm_regularisation_table.py", ["--only", "l3"], "--only: unknown name 'l3'. Did you mean 'l1'?"),
    ("norm_regularisation_table.py", ["--points", "-5"], "argument --points: must be >= 1, got -5"),
    ("norm_regularisation_table.py", ["--archs", "basicnet", "--data", "digitz"], "unknown dataset 'digitz'"),
    ("width_normalisation_study.py", ["--ks", "0"], "whole numbers from 1 to 64"),
    ("certified_training.py", ["--trainings", "foo"], "--trainings must list some of"),
])
def test_bad_study_arguments_are_one_line(script, argv, message, tmp_path):
    result = subprocess.run([sys.executable, os.path.join(APPS, script), *argv, "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert message in result.stderr and not (tmp_path / "out").exists()
