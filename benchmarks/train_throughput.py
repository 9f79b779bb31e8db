"""Images per second of natural, PGD-10 and free (m=4) training steps of WRN-16-k on CIFAR-shaped inputs:
kerobust (Keras 3, the active backend) beside the same network and steps in PyTorch on the CPU, in one run, in three
setups: a plain eager loop, channels_last, and `torch.compile` with channels_last (PyTorch's best CPU setup).

Usage: python benchmarks/train_throughput.py [--k 1 2] [--batches 3] [--batch-size 128]
Writes benchmarks/results/train_throughput.json. An image counts once per forward/backward training pass: a PGD-10
step processes 128 images (plus 10 attack passes), a free step with m = 4 processes 4 x 128.
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPS, ALPHA, STEPS, REPLAYS = 8 / 255, 2 / 255, 10, 4


def keras_seconds_per_step(k, method, x, y, batches):
    import keras

    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    keras.utils.set_random_seed(0)
    classifier = build_model("wrn", x.shape[1:], 10, (0.5,) * 3, (0.25,) * 3, k=k, norm="bn")
    method = build_training_method(method, eps=EPS, steps=STEPS, step_size=ALPHA, replays=REPLAYS)
    trainer = AdversarialModel(classifier, method, batch_size=len(x))
    from kerobust.backend import use_xla

    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=use_xla("auto"))
    trainer.train_on_batch(x, y)  # compile
    started = time.perf_counter()
    for _ in range(batches):
        trainer.train_on_batch(x, y)
    return (time.perf_counter() - started) / batches


TORCH_SETUPS = ("eager", "channels_last", "compiled")


def cifar_shaped_batch(batch_size):
    """A fixed random batch of 32x32x3 images in [0, 1] and labels of 10 classes."""
    rng = np.random.default_rng(0)
    return rng.random((batch_size, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, batch_size)


def torch_seconds_per_step(k, method, x, y, batches, setup="eager"):
    import torch

    from torch_wide_resnet import WideResNet, free_step, natural_step, pgd_step

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    model = WideResNet(16, k)
    xt, yt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y).long()
    if setup != "eager":
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model = torch.compile(model) if setup == "compiled" else model
    delta = torch.zeros_like(xt)

    def step():
        nonlocal delta
        if method == "natural":
            natural_step(model, optimizer, xt, yt)
        elif method == "pgd":
            pgd_step(model, optimizer, xt, yt, EPS, ALPHA, STEPS)
        else:
            delta = free_step(model, optimizer, xt, yt, delta, EPS, REPLAYS)

    for _ in range(2 if setup == "compiled" else 1):  # warm-up (compiled: its train and eval graphs)
        step()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    return (time.perf_counter() - started) / batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--torch", nargs="+", default=list(TORCH_SETUPS), choices=TORCH_SETUPS,
                        help="PyTorch setups to run")
    args = parser.parse_args()
    import keras

    x, y = cifar_shaped_batch(args.batch_size)
    rows = []
    for k in args.k:
        for method in ("natural", "pgd", "free"):
            images = args.batch_size * (REPLAYS if method == "free" else 1)
            ours = keras_seconds_per_step(k, method, x, y, args.batches)
            peers = {setup: torch_seconds_per_step(k, method, x, y, args.batches, setup) for setup in args.torch}
            best = min(peers, key=peers.get)
            rows.append({
                "model": f"WRN-16-{k}", "method": method if method != "pgd" else "pgd-10",
                "kerobust_images_per_s": images / ours, "kerobust_s_per_step": ours,
                **{f"torch_{setup}_s_per_step": seconds for setup, seconds in peers.items()},
                **{f"torch_{setup}_images_per_s": images / seconds for setup, seconds in peers.items()},
                "speed_ratio": peers["eager"] / ours if "eager" in peers else None,
                "best_torch": best, "speed_ratio_vs_best": peers[best] / ours,
            })
            r = rows[-1]
            print(f"{r['model']:9s} {r['method']:8s} kerobust {r['kerobust_images_per_s']:8.1f} img/s   " + "   ".join(
                f"torch {setup} {images / seconds:8.1f}" for setup, seconds in peers.items())
                + f"   ratio vs best ({best}) {r['speed_ratio_vs_best']:.2f}", flush=True)
    out = {"backend": keras.backend.backend(), "cpu_count": os.cpu_count(), "batch_size": args.batch_size,
           "input": [32, 32, 3], "rows": rows}
    path = os.path.join(os.path.dirname(__file__), "results", f"train_throughput_{keras.backend.backend()}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(out, handle, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
