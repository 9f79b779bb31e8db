"""Every registered architecture (and each WideResNet normalisation) completes a one-epoch `kerobust fit` on digits,
export included. About 10 minutes on 2 CPU cores (ResNet-18 alone 2.3 min): a `slow` check, run with `-m slow`."""

import json

import pytest

from kerobust.cli.main import main

ARCHS = [("wrn", norm) for norm in ("none", "bn", "convnorm", "bn+convnorm")] + [
    (arch, None) for arch in ("resnet20", "resnet18", "vgg11", "senet18", "regnetx_200mf", "basicnet", "certcnn",
                              "noisenet20", "lenet5", "lenet5_lrn1", "lenet5_lrn2", "lenet5_lrn3", "cifar_nin")
]


@pytest.mark.slow
@pytest.mark.parametrize("arch,norm", ARCHS, ids=[a if n is None else f"{a}-{n}" for a, n in ARCHS])
def test_one_epoch_fit_trains_evaluates_and_exports(arch, norm, tmp_path):
    argv = ["fit", "--arch", arch, "--data", "digits", "--train-method", "natural", "--epochs", "1",
            "--val-points", "32", "--run-dir", str(tmp_path / "run")]
    assert main(argv + (["--norm", norm] if norm else [])) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["export"]["status"] == "ok" and (tmp_path / "run" / "saved_model").is_dir()
