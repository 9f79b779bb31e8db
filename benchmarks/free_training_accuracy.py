"""Free adversarial training on digits, kerobust against an independent plain-PyTorch loop: accuracy, not speed.

Both sides train WRN-16-k with batch norm from scratch on kerobust's digits split, with one recipe: free training
(Shafahi et al. 2019, Algorithm 1: m replays of every minibatch, one backward pass for the weights and the
perturbation, step = eps, the perturbation carried over to the next minibatch, a smaller last batch using its first
rows), AdamW (lr 1e-3, weight decay 0.01, Adam eps 1e-7), batch 128, ceil(budget / m) passes. Each side is evaluated in
its own framework: clean, FGSM and PGD-20 (step eps / 8, random start) on the 360 test digits. The PyTorch side
(`torch_wide_resnet.py`) shares nothing with kerobust but the data arrays and the network's function (TensorFlow's
"same" padding); its initialisation and batch order are its own, so seed-averaged accuracies are compared.

Each PyTorch-trained network is also loaded into kerobust's `wrn` (its logits checked to match) and attacked with
kerobust's FGSM and PGD-20, which separates a difference of training from one of evaluation. Both sides run twice:
as Shafahi et al. (x + delta clipped to the box) and with `box` (delta projected so that x + delta stays in the box,
Wong et al. 2020). Verdict per pair: the means agree when they differ by less than 2 standard errors of the
difference plus 2 points. `--variants` adds the kerobust-only literature variants (more replays, a smaller replay
step, an eps warm-up) and PGD-10 training at half the budget for reference.

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


def kerobust_run(work, name, k, budget, seed, replays=4, method="free", **options):
    from kerobust.experiment import FitConfig, run

    config = FitConfig(arch="wrn", k=k, norm="bn", data="digits", train_method=method, replays=replays, epochs=budget,
                       eps=EPS, eval_steps=[PGD_STEPS], eval_step_size=PGD_STEP, val_points=0, diagnostics_points=0,
                       seed=seed, run_dir=os.path.join(work, f"{name}-{seed}"), **options)
    result = run(config, log=lambda *_: None)
    accuracy = {a.name: a.top1 for a in result.evaluation.attacks}
    return {"clean": result.evaluation.clean_top1, "fgsm": accuracy["FGSM"], "pgd20": accuracy["PGD"],
            "train_seconds": result.train_seconds}


def torch_run(data, k, budget, seed, replays=4, box=False):
    """The PyTorch side on `data` (a dict of the digits arrays), in a process without TensorFlow: PyTorch and
    TensorFlow in one process crash (a segmentation fault in the first PyTorch convolution)."""
    import torch

    from torch_wide_resnet import WideResNet, fgsm, free_step, keras_initialisation, kerobust_weights, pgd

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(seed)
    channels = data["x_train"].shape[-1]
    model = WideResNet(16, k, channels, data["num_classes"], mean=list(data["mean"]), std=list(data["std"]),
                       bn_momentum=0.1, bn_eps=1e-5)  # kerobust's batch norm (ConvFactory.batch_norm)
    keras_initialisation(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, eps=1e-7)

    def tensor(x):
        return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))

    x_train, y_train = tensor(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
    batch = 128
    delta = torch.zeros((batch, *x_train.shape[1:]))
    started = time.time()
    model.train()
    for _ in range(math.ceil(budget / replays)):
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            n = len(rows)
            delta[:n] = free_step(model, optimizer, x_train[rows], y_train[rows], delta[:n].clone(), EPS, replays, box)
    seconds = time.time() - started
    model.eval()
    x_test, y_test = tensor(data["x_test"]), torch.from_numpy(data["y_test"].astype(np.int64))

    def accuracy(x):
        model.eval()  # the attacks leave the model in training mode
        with torch.no_grad():
            return float((model(x).argmax(1) == y_test).float().mean())

    out = {"clean": accuracy(x_test), "fgsm": accuracy(fgsm(model, x_test, y_test, EPS)),
           "pgd20": accuracy(pgd(model, x_test, y_test, EPS, PGD_STEP, PGD_STEPS)), "train_seconds": seconds}
    model.eval()
    with torch.no_grad():
        logits = model(x_test).numpy()
    return out, kerobust_weights(model), logits


def kerobust_attacks_on(weights, logits, dataset, k, seed):
    """The PyTorch-trained network loaded into kerobust's `wrn` (the same function: checked on the test logits) and
    attacked with kerobust's FGSM and PGD-20: separates a difference of training from one of evaluation."""
    from kerobust.attacks import FGSM, PGD
    from kerobust.evaluation import evaluate_robustness
    from kerobust.models import build_model

    model = build_model("wrn", dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std, k=k, norm="bn")
    for name, arrays in weights.items():
        model.get_layer(name).set_weights(arrays)
    difference = float(np.max(np.abs(np.asarray(model(dataset.x_test)) - logits)))
    assert difference < 1e-3 * max(1.0, float(np.max(np.abs(logits)))), f"the loaded network differs by {difference}"
    result = evaluate_robustness(model, dataset.x_test, dataset.y_test, [
        FGSM(eps=EPS), PGD(eps=EPS, steps=PGD_STEPS, step_size=PGD_STEP)], seed=seed, progress=False)
    return {"clean": result.clean_top1, "fgsm": result.attacks[0].top1, "pgd20": result.attacks[1].top1,
            "train_seconds": 0.0, "max_logit_difference": difference}


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


def variants(passes):
    """`(name, replays, FitConfig options)`: what the literature suggests for free training over `passes` passes."""
    return (
        ("kerobust free m=8", 8, {}),
        ("kerobust free m=4, replay step eps/2", 4, {"step_size": EPS / 2}),
        ("kerobust free m=4, eps warm-up over the first third", 4, {"eps_warmup_epochs": max(1, passes // 3)}),
    )
PAIRS = (("kerobust free m=4", "PyTorch free m=4"), ("kerobust free m=4, box", "PyTorch free m=4, box"))


def _group(name):
    """The `--only` group a row belongs to."""
    if name.startswith("PyTorch"):
        return "torch-box" if ", box" in name else "torch"
    if name in ("kerobust free m=4", "kerobust free m=4, box"):
        return "kerobust-box" if name.endswith("box") else "kerobust"
    return "variants"


GROUPS = ("torch", "torch-box", "kerobust", "kerobust-box", "variants")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--budget", type=int, default=60, help="epochs of budget (passes = budget / m)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", action="store_true",
                        help="also the kerobust-only literature variants and PGD-10 training for reference")
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=None,
                        help="recompute these groups of rows; read the others back from the JSON of an earlier run "
                             "with the same --k, --budget and --seeds")
    args = parser.parse_args()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import keras

    from kerobust.data import load_dataset

    path = os.path.join(os.path.dirname(__file__), "results", "free_training_accuracy.json")
    rows = {}
    groups = set(args.only or [g for g in GROUPS if g != "variants" or args.variants])
    if args.only:
        with open(path) as handle:
            earlier = json.load(handle)
        if (earlier["k"], earlier["budget"], earlier["seeds"]) != (args.k, args.budget, args.seeds):
            parser.error(f"{path} holds another run (k, budget, seeds); run without --only")
        rows = {name: runs for name, runs in earlier["runs"].items() if _group(name) not in groups}
    dataset = load_dataset("digits")
    data = {"x_train": dataset.x_train, "y_train": dataset.y_train, "x_test": dataset.x_test, "y_test": dataset.y_test,
            "mean": tuple(dataset.mean), "std": tuple(dataset.std), "num_classes": dataset.num_classes}
    work = tempfile.mkdtemp(prefix="kerobust-free-accuracy-")
    try:
        for box in (False, True):
            suffix = ", box" if box else ""
            if ("torch-box" if box else "torch") in groups:
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    trained = [pool.submit(torch_run, data, args.k, args.budget, s, box=box).result()
                               for s in args.seeds]
                rows[f"PyTorch free m=4{suffix}"] = [out for out, _, _ in trained]
                rows[f"PyTorch free m=4{suffix}, kerobust's attacks"] = [
                    kerobust_attacks_on(weights, logits, dataset, args.k, s)
                    for (_, weights, logits), s in zip(trained, args.seeds)]
            if ("kerobust-box" if box else "kerobust") in groups:
                rows[f"kerobust free m=4{suffix}"] = [
                    kerobust_run(work, f"kerobust{suffix[2:]}", args.k, args.budget, s, free_box=box)
                    for s in args.seeds]
        if "variants" in groups:
            for name, replays, options in variants(math.ceil(args.budget / 4)):
                folder = name.replace(" ", "_").replace("/", "-").replace(",", "")
                rows[name] = [kerobust_run(work, folder, args.k, args.budget, s, replays=replays, **options)
                              for s in args.seeds]
            epochs = args.budget // 2  # PGD-10 costs about 2x free m=4 at the same budget (benchmarks/README.md)
            rows[f"kerobust PGD-10 training, {epochs} epochs"] = [
                kerobust_run(work, "pgd", args.k, epochs, s, method="pgd") for s in args.seeds]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    order = [n for n in ("PyTorch free m=4", "PyTorch free m=4, kerobust's attacks", "kerobust free m=4",
                         "PyTorch free m=4, box", "PyTorch free m=4, box, kerobust's attacks",
                         "kerobust free m=4, box")]
    rows = {name: rows[name] for name in order + [n for n in rows if n not in order] if name in rows}
    stats = {name: summary(runs) for name, runs in rows.items()}
    verdicts = {f"{a} / {b}": agree(stats[a], stats[b], len(args.seeds)) for a, b in PAIRS}
    print(f"WRN-16-{args.k}, free training at l-inf eps {EPS}, budget {args.budget} epochs, seeds {args.seeds}")
    print(f"{'run':56s} " + " ".join(f"{m:>13s}" for m in METRICS) + f" {'train s':>8s}")
    for name, s in stats.items():
        print(f"{name:56s} " + " ".join(f"{100 * s[m]['mean']:6.2f} ± {100 * s[m]['std']:4.2f}" for m in METRICS)
              + f" {s['train_seconds']['mean']:8.1f}")
    for pair, verdict in verdicts.items():
        print(f"{pair}: agree (|difference| < 2 SE + 2 points): "
              + ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in verdict.items()))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"backend": keras.backend.backend(), "k": args.k, "budget": args.budget, "eps": EPS,
                   "seeds": args.seeds, "runs": rows, "summary": stats, "agree": verdicts}, handle, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
