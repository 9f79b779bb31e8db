"""Bound evaluator speed: the time to compute per-sample bounds for a batch against a forward pass of the same
batch, for WRN-16-k (32x32x3) and LeNet-5 / LeNet-LRN3 (28x28x1), in the same run.

The forward pass is `model.predict_on_batch` (Keras's compiled predict function, with and without XLA); the
bounds are `BoundEvaluator(model, mode)(x)` in sound mode (and thesis mode for the chain networks), compiled as
`jit="auto"` picks (XLA on JAX and on a TensorFlow GPU, a TensorFlow graph on a TensorFlow CPU). Both include moving the
batch in and the result out; medians of `--repeats` calls after a warm-up call (the warm-up includes compilation); the
evaluator's construction, which for sound mode computes every layer's Lipschitz constant once, is timed on its own
(`setup`). Target (issue 6): sound mode at most 3 forward passes.

    python benchmarks/bounds_speed.py [--batch 128] [--repeats 10]
"""

import argparse
import datetime
import os
import time

from norms_timing import median_seconds  # the sibling benchmark script (this folder is on sys.path)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = (("wrn", {"k": 1}, (32, 32, 3)), ("wrn", {"k": 2}, (32, 32, 3)),
          ("wrn", {"k": 1, "norm": "bn+convnorm"}, (32, 32, 3)), ("lenet5", {}, (28, 28, 1)),
          ("lenet5_lrn3", {}, (28, 28, 1)))


def measure(arch, options, shape, batch, repeats):
    import keras
    import numpy as np

    from kerobust.bounds import BoundEvaluator
    from kerobust.errors import KerobustError
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(arch, shape, 10, (0.5,) * shape[2], (0.25,) * shape[2], **options)
    x = np.random.default_rng(0).random((batch, *shape)).astype("float32")
    name = (f"{arch}{'-16-' + str(options['k']) if 'k' in options else ''}"
            f"{' ' + options['norm'] if 'norm' in options else ''}")
    row = {"model": name, "input": list(shape), "batch": batch}
    for jit in (False, True):
        model.compile(jit_compile=jit)
        row["forward_xla_s" if jit else "forward_s"] = median_seconds(lambda: model.predict_on_batch(x), repeats)
    forward = min(row["forward_s"], row["forward_xla_s"])
    for mode in ("sound", "thesis"):
        start = time.perf_counter()
        try:
            evaluator = BoundEvaluator(model, mode)
        except KerobustError as error:  # thesis mode refuses residual networks
            row[f"{mode}_s"], row[f"{mode}_note"] = None, str(error)
            continue
        row[f"{mode}_setup_s"] = time.perf_counter() - start  # sound: every layer's Lipschitz constant, once
        start = time.perf_counter()
        evaluator(x)
        row[f"{mode}_first_call_s"] = time.perf_counter() - start
        row[f"{mode}_s"] = median_seconds(lambda: evaluator(x), repeats)
        row[f"{mode}_over_forward"] = row[f"{mode}_s"] / forward
    return row


def main():
    import keras

    from kerobust.atomic_files import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rows = []
    progress = keras.utils.Progbar(len(MODELS), unit_name="model")
    for i, (arch, options, shape) in enumerate(MODELS):
        rows.append(measure(arch, options, shape, args.batch, args.repeats))
        progress.update(i + 1)
    print("| model | forward s | forward XLA s | sound setup s | sound s | sound / forward | thesis s | "
          "thesis / forward |")
    print("|---|---|---|---|---|---|---|---|")
    cell = lambda value, fmt: "-" if value is None else format(value, fmt)  # noqa: E731
    for r in rows:
        print(f"| {r['model']} | {r['forward_s']:.4f} | {r['forward_xla_s']:.4f} | "
              f"{cell(r.get('sound_setup_s'), '.2f')} | {cell(r['sound_s'], '.4f')} | "
              f"{cell(r.get('sound_over_forward'), '.2f')} | {cell(r['thesis_s'], '.4f')} | "
              f"{cell(r.get('thesis_over_forward'), '.2f')} |")
    path = os.path.join(os.path.dirname(__file__), "results", f"bounds_speed_{keras.backend.backend()}.json")
    payload = {"date": datetime.date.today().isoformat(), "backend": keras.backend.backend(),
               "cpu_count": os.cpu_count(), "rows": rows}
    write_json(path, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
