"""Certification cost: IBP, CROWN-IBP and full CROWN bounds as multiples of a forward pass, and IBP / CROWN-IBP
training steps as multiples of a natural training step, on the same model and batch in the same run.

Models: Gowal et al.'s small CNN (`certcnn`, widths 1 and 4) and basicnet (width 8) on 8x8x1 digits-shaped inputs.
The forward pass is `model.predict_on_batch`; the bounds are the compiled `IntervalBounds` / `CrownBounds` calls
(`jit="auto"`); the training steps are `AdversarialModel.train_on_batch` with the natural, `ibp` and `crown-ibp`
methods (mid-ramp, so the bound terms are live). Medians of `--repeats` calls after a warm-up call.

    python benchmarks/certification_cost.py [--batch 128] [--repeats 5]
"""

import argparse
import datetime
import os

from norms_timing import median_seconds  # the sibling benchmark script (this folder is on sys.path)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = (("certcnn", {"width": 1}), ("certcnn", {"width": 4}), ("basicnet", {"width": 8}))


def measure(arch, options, batch, repeats):
    import keras
    import numpy as np

    from kerobust.bounds.linear.crown import CrownBounds
    from kerobust.bounds.linear.interval import IntervalBounds
    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    rng = np.random.default_rng(0)
    x = rng.random((batch, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, batch).astype("int32")
    keras.utils.set_random_seed(0)
    model = build_model(arch, (8, 8, 1), 10, (0.3,), (0.3,), **options)
    row = {"model": f"{arch} width {options['width']}", "batch": batch}
    row["forward_s"] = median_seconds(lambda: model.predict_on_batch(x), repeats)
    crown_points = x[: max(1, batch // 16)]  # full CROWN is timed on a sixteenth of the batch, then scaled
    for name, bounds, points in (("ibp", IntervalBounds(model), x),
                                 ("crown_ibp", CrownBounds(model, intermediate="ibp"), x),
                                 ("crown", CrownBounds(model), crown_points)):
        labels = y[:len(points)]
        seconds = median_seconds(lambda: bounds(points, labels, 0.05), repeats)
        row[f"{name}_s"] = seconds * len(x) / len(points)
        row[f"{name}_over_forward"] = row[f"{name}_s"] / row["forward_s"]
    for method in ("natural", "ibp", "crown-ibp"):
        keras.utils.set_random_seed(0)
        classifier = build_model(arch, (8, 8, 1), 10, (0.3,), (0.3,), **options)
        extra = {} if method == "natural" else {"warmup_steps": 0, "ramp_steps": 10 ** 6}
        trainer = AdversarialModel(classifier, build_training_method(method, eps=0.1, **extra))
        trainer.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.optimizer.iterations.assign(5 * 10 ** 5)  # mid-ramp: eps 0.05, kappa and beta in between
        row[f"{method}_step_s"] = median_seconds(lambda: trainer.train_on_batch(x, y), repeats)
    for method in ("ibp", "crown-ibp"):
        row[f"{method}_step_over_natural"] = row[f"{method}_step_s"] / row["natural_step_s"]
    return row


def main():
    import keras

    from kerobust.atomic_files import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    progress = keras.utils.Progbar(len(MODELS), unit_name="model")
    for i, (arch, options) in enumerate(MODELS):
        rows.append(measure(arch, options, args.batch, args.repeats))
        progress.update(i + 1)
    print("| model | forward s | IBP / forward | CROWN-IBP / forward | CROWN / forward | natural step s | "
          "IBP step / natural | CROWN-IBP step / natural |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['forward_s']:.4f} | {r['ibp_over_forward']:.1f} | "
              f"{r['crown_ibp_over_forward']:.1f} | "
              f"{r['crown_over_forward']:.0f} | {r['natural_step_s']:.4f} | {r['ibp_step_over_natural']:.1f} | "
              f"{r['crown-ibp_step_over_natural']:.1f} |")
    write_json(os.path.join(os.path.dirname(__file__), "results", f"certification_cost_{keras.backend.backend()}.json"),
               {"date": datetime.date.today().isoformat(), "batch": args.batch, "rows": rows})


if __name__ == "__main__":
    main()
