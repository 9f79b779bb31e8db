"""Cost of ConvNorm: a WRN-16-k training step with ConvNorm against Conv2D + batch norm, time and peak memory.

Each (input size, k, norm) runs in its own subprocess, so peak resident memory (ru_maxrss, minus the process's
footprint after building the model) belongs to that configuration alone. Time: median of timed natural training
steps (one forward and backward pass, SGD) after two warm-up steps. Ratios are against `bn` (Conv2D + batch norm)
at the same size and width.

    python benchmarks/convnorm_cost.py [--batch 128] [--steps 5] [--out benchmarks/results/convnorm_cost.json]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from kerobust.atomic_files import write_text

CONFIGS = [(32, 1), (32, 2), (8, 2), (8, 5)]
NORMS = ("bn", "convnorm", "bn+convnorm")


def measure(size, k, norm, batch, steps):
    """Runs in the child: builds the model, times training steps, reports time and peak memory."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from kerobust.models import build_model

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    model = build_model("wrn", (size, size, 3), 10, (0.5,) * 3, (0.25,) * 3, k=k, norm=norm)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"step_s": float(np.median(times)), "peak_mib": (peak_kib - base_kib) / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "convnorm_cost.json"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, k, norm = int(args.child[0]), int(args.child[1]), args.child[2]
        print(json.dumps(measure(size, k, norm, args.batch, args.steps)))
        return
    rows = []
    for size, k in CONFIGS:
        runs = {}
        for norm in NORMS:
            command = [sys.executable, __file__, "--batch", str(args.batch), "--steps", str(args.steps),
                       "--child", str(size), str(k), norm]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[norm] = json.loads(output.strip().splitlines()[-1])
        for norm in NORMS[1:]:
            rows.append({
                "input": f"{size}x{size}x3", "model": f"WRN-16-{k}", "norm": norm, "batch": args.batch,
                "step_s": runs[norm]["step_s"], "bn_step_s": runs["bn"]["step_s"],
                "time_ratio": runs[norm]["step_s"] / runs["bn"]["step_s"],
                "peak_mib": runs[norm]["peak_mib"], "bn_peak_mib": runs["bn"]["peak_mib"],
                "memory_ratio": runs[norm]["peak_mib"] / max(runs["bn"]["peak_mib"], 1e-9),
            })
            r = rows[-1]
            print(f"{r['model']:9s} {r['input']:8s} {norm:12s} step {r['step_s']:.3f}s vs {r['bn_step_s']:.3f}s "
                  f"(x{r['time_ratio']:.2f}); peak {r['peak_mib']:.0f} vs {r['bn_peak_mib']:.0f} MiB "
                  f"(x{r['memory_ratio']:.2f})", flush=True)
    write_text(args.out, json.dumps({"rows": rows, "target": "ConvNorm at most 2x Conv2D + BN"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
