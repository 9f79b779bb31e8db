"""Where a PGD-10 training step of WRN-16-k spends its time: the attack (10 input-gradient passes in inference mode)
and the weight update (one training pass on the adversarial batch), in kerobust and in PyTorch's best CPU setup
(`torch.compile` with channels_last), in one run.

Usage: python benchmarks/pgd_step_breakdown.py [--k 1] [--batches 3] [--batch-size 128]
Writes benchmarks/results/pgd_step_breakdown.json. Each part is timed on its own, with the same compiled functions
the training step uses (kerobust: its `PGD` attack and `train_on_batch` of a natural step; PyTorch: the peer's `pgd`
and `natural_step`); "rest" is the full step minus the two parts.
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from train_throughput import ALPHA, EPS, STEPS, cifar_shaped_batch, keras_seconds_per_step  # noqa: E402


def _timed(step, batches):
    step()  # compile / warm up
    started = time.perf_counter()
    for _ in range(batches):
        step()
    return (time.perf_counter() - started) / batches


def keras_parts(k, x, y, batches):
    import keras

    from kerobust.attacks import PGD
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    classifier = build_model("wrn", x.shape[1:], 10, (0.5,) * 3, (0.25,) * 3, k=k, norm="bn")
    attack = PGD(eps=EPS, steps=STEPS, step_size=ALPHA)
    attack_s = _timed(lambda: np.asarray(attack(classifier, x, y)), batches)
    return {"attack": attack_s, "update": keras_seconds_per_step(k, "natural", x, y, batches),
            "step": keras_seconds_per_step(k, "pgd", x, y, batches)}


def torch_parts(k, x, y, batches):
    import torch

    from torch_wide_resnet import WideResNet, natural_step, pgd, pgd_step

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    model = WideResNet(16, k).to(memory_format=torch.channels_last)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(y).long()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model = torch.compile(model)
    adversarial = pgd(model, xt, yt, EPS, ALPHA, STEPS)
    return {"attack": _timed(lambda: pgd(model, xt, yt, EPS, ALPHA, STEPS), batches),
            "update": _timed(lambda: natural_step(model, optimizer, adversarial, yt), batches),
            "step": _timed(lambda: pgd_step(model, optimizer, xt, yt, EPS, ALPHA, STEPS), batches)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    import keras

    x, y = cifar_shaped_batch(args.batch_size)
    rows = []
    for k in args.k:
        for peer, parts in (("kerobust", keras_parts(k, x, y, args.batches)),
                            ("torch compiled+channels_last", torch_parts(k, x, y, args.batches))):
            parts["rest"] = parts["step"] - parts["attack"] - parts["update"]
            rows.append({"model": f"WRN-16-{k}", "peer": peer, **{f"{p}_s": v for p, v in parts.items()}})
            print(f"WRN-16-{k} {peer:30s} step {parts['step']:.3f} s = attack {parts['attack']:.3f} + update "
                  f"{parts['update']:.3f} + rest {parts['rest']:+.3f}", flush=True)
    out = {"backend": keras.backend.backend(), "cpu_count": os.cpu_count(), "batch_size": args.batch_size,
           "rows": rows}
    path = os.path.join(os.path.dirname(__file__), "results", "pgd_step_breakdown.json")
    with open(path, "w") as handle:
        json.dump(out, handle, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
