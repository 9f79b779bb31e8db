"""Free adversarial training (m = 4) against PGD-10 training on digits: robust accuracy and training wall time.

Both train WRN-16-k with the same epoch budget through `kerobust fit` (free runs epochs / m passes, each minibatch
replayed m times), and are evaluated with PGD-20 at eps 0.2 on the test split. Training time excludes evaluation
and per-epoch robust validation (`--val-points 0`) but includes graph compilation.

Usage: python benchmarks/free_vs_pgd.py [--k 2] [--epochs 30] [--free-budgets 30 60]
Writes benchmarks/results/free_vs_pgd.json.
"""

import argparse
import json
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fit(work, name, args, **options):
    from kerobust.experiment import FitConfig, run

    run_dir = os.path.join(work, name)
    metrics = run(FitConfig(arch="wrn", k=args.k, data="digits", val_points=0, run_dir=run_dir, **options)).metrics
    pgd20 = next(a for a in metrics["attacks"] if a["name"] == "PGD")
    return {"run": name, "clean_top1": metrics["clean"]["top1"], "pgd20_top1": pgd20["top1"],
            "train_seconds": metrics["train_seconds"], "fit_epochs": metrics["epochs"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--free-budgets", type=int, nargs="+", default=[30, 60])
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="kerobust-free-vs-pgd-")
    try:
        rows = [fit(work, "pgd", args, train_method="pgd", epochs=args.epochs)]
        for budget in args.free_budgets:
            rows.append(fit(work, f"free-m4-budget{budget}", args, train_method="free", replays=4, epochs=budget))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pgd = rows[0]
    for row in rows:
        row["time_ratio_to_pgd"] = row["train_seconds"] / pgd["train_seconds"]
        row["pgd20_points_below_pgd"] = 100 * (pgd["pgd20_top1"] - row["pgd20_top1"])
    print(f"{'run':22s} {'clean':>7s} {'PGD-20':>7s} {'train s':>8s} {'time/pgd':>9s}")
    for r in rows:
        print(f"{r['run']:22s} {100 * r['clean_top1']:7.2f} {100 * r['pgd20_top1']:7.2f} {r['train_seconds']:8.1f} "
              f"{r['time_ratio_to_pgd']:9.2f}")
    import keras

    path = os.path.join(os.path.dirname(__file__), "results", "free_vs_pgd.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"backend": keras.backend.backend(), "k": args.k, "epochs": args.epochs, "rows": rows}, handle,
                  indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
