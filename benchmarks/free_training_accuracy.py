"""Free adversarial training on digits, kerobust against an independent plain-PyTorch loop: accuracy, not speed.

Both sides train WRN-16-k with batch norm from scratch on kerobust's digits split, with one recipe: free training
(Shafahi et al. 2019, Algorithm 1: m replays of every minibatch, one backward pass for the weights and the
perturbation, step = eps, the perturbation carried over to the next minibatch, a smaller last batch using its first
rows), AdamW (lr 1e-3, weight decay 0.01, Adam eps 1e-7), batch 128, ceil(budget / m) passes. Each side is evaluated in
its own framework: clean, FGSM and PGD-20 (step eps / 8, random start) on the 360 test digits. The PyTorch side shares
nothing with kerobust but the data arrays; initialisation and the padding of strided convolutions (symmetric in
PyTorch, bottom-right in Keras) differ, so only seed-averaged accuracies are compared.

Verdict: the two agree when every mean differs by less than 2 standard errors of the difference (Welch) plus 2
points. Then the kerobust-only variants (`--variants`) try what the literature suggests for free training: more
replays, a smaller replay step, and an eps warm-up.

Usage: python benchmarks/free_training_accuracy.py [--k 2] [--budget 60] [--seeds 0 1 2] [--variants]
Writes benchmarks/results/free_training_accuracy.json.
"""

import argparse
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPS = 0.2
PGD_STEPS, PGD_STEP = 20, EPS / 8
METRICS = ("clean", "fgsm", "pgd20")


def kerobust_run(work, name, k, budget, seed, replays=4, **options):
    from kerobust.experiment import FitConfig, run

    config = FitConfig(arch="wrn", k=k, norm="bn", data="digits", train_method="free", replays=replays, epochs=budget,
                       eps=EPS, eval_steps=[PGD_STEPS], eval_step_size=PGD_STEP, val_points=0, diagnostics_points=0,
                       seed=seed, run_dir=os.path.join(work, f"{name}-{seed}"), **options)
    result = run(config, log=lambda *_: None)
    accuracy = {a.name: a.top1 for a in result.evaluation.attacks}
    return {"clean": result.evaluation.clean_top1, "fgsm": accuracy["FGSM"], "pgd20": accuracy["PGD"],
            "train_seconds": result.train_seconds}


def torch_run(dataset, k, budget, seed, replays=4):
    import torch

    from torch_wide_resnet import WideResNet, fgsm, free_step, pgd

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(seed)
    channels = dataset.input_shape[-1]
    model = WideResNet(16, k, channels, dataset.num_classes, mean=list(dataset.mean), std=list(dataset.std),
                       bn_momentum=0.01, bn_eps=1e-3)  # Keras's batch-norm defaults
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, eps=1e-7)

    def tensor(x):
        return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))

    x_train, y_train = tensor(dataset.x_train), torch.from_numpy(dataset.y_train.astype(np.int64))
    batch = 128
    delta = torch.zeros((batch, *x_train.shape[1:]))
    started = time.time()
    model.train()
    for _ in range(math.ceil(budget / replays)):
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            n = len(rows)
            delta[:n] = free_step(model, optimizer, x_train[rows], y_train[rows], delta[:n].clone(), EPS, replays)
    seconds = time.time() - started
    model.eval()
    x_test, y_test = tensor(dataset.x_test), torch.from_numpy(dataset.y_test.astype(np.int64))

    def accuracy(x):
        with torch.no_grad():
            return float((model(x).argmax(1) == y_test).float().mean())

    out = {"clean": accuracy(x_test), "fgsm": accuracy(fgsm(model, x_test, y_test, EPS)),
           "pgd20": accuracy(pgd(model, x_test, y_test, EPS, PGD_STEP, PGD_STEPS)), "train_seconds": seconds}
    return out


def summary(runs):
    return {m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs], ddof=1))
                if len(runs) > 1 else 0.0} for m in METRICS + ("train_seconds",)}


def agree(a, b, n):
    """Per metric: |mean difference| < 2 standard errors of the difference + 2 points."""
    out = {}
    for m in METRICS:
        error = math.sqrt((a[m]["std"] ** 2 + b[m]["std"] ** 2) / n)
        out[m] = abs(a[m]["mean"] - b[m]["mean"]) < 2 * error + 0.02
    return out


VARIANTS = (  # (name, replays, FitConfig options): what the literature suggests for free training
    ("free m=8", 8, {}),
    ("free m=4, replay step eps/2", 4, {"step_size": EPS / 2}),
    ("free m=4, eps warm-up over the first third", 4, {"eps_warmup_epochs": None}),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--budget", type=int, default=60, help="epochs of budget (passes = budget / m)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", action="store_true", help="also the kerobust-only literature variants")
    args = parser.parse_args()
    import keras

    from kerobust.data import load_dataset

    dataset = load_dataset("digits")
    work = tempfile.mkdtemp(prefix="kerobust-free-accuracy-")
    rows = {}
    try:
        rows["kerobust free m=4"] = [kerobust_run(work, "kerobust", args.k, args.budget, s) for s in args.seeds]
        rows["PyTorch free m=4"] = [torch_run(dataset, args.k, args.budget, s) for s in args.seeds]
        if args.variants:
            passes = math.ceil(args.budget / 4)
            for name, replays, options in VARIANTS:
                options = {key: (max(1, passes // 3) if value is None else value) for key, value in options.items()}
                rows[name] = [kerobust_run(work, name.replace(" ", "_").replace("/", "-").replace(",", ""), args.k,
                                           args.budget, s, replays=replays, **options) for s in args.seeds]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats = {name: summary(runs) for name, runs in rows.items()}
    verdict = agree(stats["kerobust free m=4"], stats["PyTorch free m=4"], len(args.seeds))
    print(f"WRN-16-{args.k}, free training at l-inf eps {EPS}, budget {args.budget} epochs, seeds {args.seeds}")
    print(f"{'run':44s} " + " ".join(f"{m:>13s}" for m in METRICS) + f" {'train s':>8s}")
    for name, s in stats.items():
        print(f"{name:44s} " + " ".join(f"{100 * s[m]['mean']:6.2f} ± {100 * s[m]['std']:4.2f}" for m in METRICS)
              + f" {s['train_seconds']['mean']:8.1f}")
    print("agree (|difference| < 2 SE + 2 points): " + ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in verdict.items()))
    path = os.path.join(os.path.dirname(__file__), "results", "free_training_accuracy.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"backend": keras.backend.backend(), "k": args.k, "budget": args.budget, "eps": EPS,
                   "seeds": args.seeds, "runs": rows, "summary": stats, "agree": verdict}, handle, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
