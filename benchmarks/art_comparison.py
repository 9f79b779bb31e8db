"""kerobust's PGD-20 and APGD-CE-100 beside the same attacks of IBM's Adversarial Robustness Toolbox (ART) on the
same Keras model, in one run: seconds per batch and robust accuracy.

Models: a naturally trained `basicnet` on digits (accuracy and timing) and an untrained WRN-16-1 on random 32x32x3
inputs labelled by its own predictions (timing only). ART wraps the very same `keras.Model` object in
`art.estimators.classification.TensorFlowV2Classifier` (sparse cross-entropy on logits, clip values (0, 1)); its
attacks are `ProjectedGradientDescent` (dispatching to `ProjectedGradientDescentTensorFlowV2`) and
`AutoProjectedGradientDescent(loss_type="cross_entropy")`. Settings: PGD 20 steps of 2.5 eps / 20 with one random
start; APGD 100 steps from 2 eps with one random start; the whole batch in one call. ART computes each loss gradient
eagerly (a `GradientTape` around `model(x)`), so it is also timed with the same model behind a `tf.function`
("ART graph"), a wrapper any ART user can write; kerobust compiles the whole attack loop into one graph.

Each attack runs once as a warm-up (its time is reported as "first call": graph tracing for kerobust, eager warm-up
for ART), then `--repeats` more times (`--pgd-repeats` for the cheaper PGD); the reported time is the median of the
repeats. The libraries take turns call
by call, so a burst of load from elsewhere hits them alike. Call i uses seed i (kerobust's
`seed=`, `np.random.seed` for ART, whose random starts come from NumPy's global generator); robust accuracy is the mean
over all calls, with its range. Every adversarial batch is checked against the eps-ball and the [0, 1] box.

Usage: python benchmarks/art_comparison.py [--batch-size 256] [--repeats 3] [--pgd-repeats 5] [--wrn-batch-size 32]
       [--wrn-norms linf] [--no-art-graph]
Requires `pip install adversarial-robustness-toolbox` (the `bench` extra).
Writes benchmarks/results/art_comparison.json.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

from kerobust.atomic_files import write_text

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# l-inf and l2 radii per model; digits are 8x8x1 in [0, 1] (l2 0.5 is kerobust's digits threat model; l-inf 0.1 is
# half of its 0.2, where the naturally trained net below keeps about 60 %), the WRN inputs 32x32x3.
EPS = {"digits": {"linf": 0.1, "l2": 0.5}, "wrn": {"linf": 8 / 255, "l2": 0.5}}
PGD_STEPS, APGD_STEPS = 20, 100
TOLERANCE = 1e-5


def digits_model(epochs, batch_size):
    """A naturally trained basicnet on digits and the first `batch_size` test points."""
    import keras

    from kerobust.data.registry import load_dataset
    from kerobust.models import build_model

    data = load_dataset("digits")
    keras.utils.set_random_seed(0)
    model = build_model("basicnet", data.x_train.shape[1:], data.num_classes, data.mean, data.std)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=0)
    return model, data.x_test[:batch_size].astype("float32"), data.y_test[:batch_size].astype("int64")


def wrn_model(batch_size):
    """An untrained WRN-16-1 and random 32x32x3 inputs labelled with its own clean predictions (timing only)."""
    import keras

    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("wrn", (32, 32, 3), 10, (0.5,) * 3, (0.25,) * 3, k=1, norm="bn")
    x = np.random.default_rng(0).random((batch_size, 32, 32, 3), dtype=np.float32)
    y = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1).astype("int64")
    return model, x, y


def art_classifier(model, input_shape, graph=False):
    """ART's wrapper of `model`. ART computes loss gradients eagerly (`GradientTape` around `model(x)`); with
    `graph=True` it gets the same model behind a `tf.function`, so each forward pass runs as one graph."""
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    wrapped = model
    if graph:
        wrapped = tf.function(lambda x, training=False: model(x, training=training), reduce_retracing=True)
    return TensorFlowV2Classifier(
        model=wrapped, nb_classes=10, input_shape=tuple(input_shape),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=(0.0, 1.0),
    )


def attacks(model, classifiers, norm, eps, batch_size):
    """[(name, {library: call}, ART implementation)] for PGD-20 and APGD-CE-100; a call maps (x, y, seed) to
    adversarial examples as a NumPy array."""
    from art.attacks.evasion import AutoProjectedGradientDescent, ProjectedGradientDescent

    from kerobust.attacks import APGD, PGD

    art_norm = np.inf if norm == "linf" else 2

    def art_pgd(classifier):
        return ProjectedGradientDescent(
            classifier, norm=art_norm, eps=eps, eps_step=2.5 * eps / PGD_STEPS, max_iter=PGD_STEPS,
            num_random_init=1, batch_size=batch_size, verbose=False,
        )

    def art_apgd(classifier):
        return AutoProjectedGradientDescent(
            classifier, norm=art_norm, eps=eps, eps_step=2 * eps, max_iter=APGD_STEPS, nb_random_init=1,
            batch_size=batch_size, loss_type="cross_entropy", verbose=False,
        )

    def ours(attack):
        return lambda x, y, seed: np.asarray(attack(model, x, y, seed=seed))

    def theirs(attack):
        def run(x, y, seed):
            np.random.seed(seed)
            return attack.generate(x, y=y)

        run.implementation = type(getattr(attack, "_attack", attack)).__name__
        return run

    rows = []
    for name, our_attack, art_attack in (
        (f"PGD-{PGD_STEPS}", PGD(eps=eps, norm=norm, steps=PGD_STEPS, step_size=2.5 * eps / PGD_STEPS), art_pgd),
        (f"APGD-CE-{APGD_STEPS}", APGD(eps=eps, norm=norm, steps=APGD_STEPS), art_apgd),
    ):
        calls = {"kerobust": ours(our_attack)}
        calls.update({lib: theirs(art_attack(classifier)) for lib, classifier in classifiers.items()})
        rows.append((name, calls, calls["art"].implementation))
    return rows


def constraint_violation(x, x_adv, norm, eps):
    """How far `x_adv` leaves the eps-ball around `x` and the [0, 1] box (0 when it stays inside)."""
    delta = (x_adv - x).reshape(len(x), -1)
    radius = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta.astype("float64") ** 2).sum(axis=1))
    return {"max_radius": float(radius.max()), "ball_excess": float(max(radius.max() - eps, 0.0)),
            "box_excess": float(max(-x_adv.min(), x_adv.max() - 1.0, 0.0))}


def measure(calls, model, x, y, norm, eps, repeats):
    """Times one warm-up call of each library and `repeats` more rounds, the libraries taking turns within a round
    (so a burst of load elsewhere hits them alike); robust accuracy and constraint checks over all calls."""
    log = {lib: {"times": [], "accuracies": [], "max_radius": 0.0, "ball_excess": 0.0, "box_excess": 0.0}
           for lib in calls}
    for seed in range(repeats + 1):
        for lib, run in calls.items():
            started = time.perf_counter()
            x_adv = run(x, y, seed)
            log[lib]["times"].append(time.perf_counter() - started)
            x_adv = np.asarray(x_adv, dtype="float32")
            assert x_adv.shape == x.shape and np.all(np.isfinite(x_adv))
            predictions = np.argmax(np.asarray(model(x_adv, training=False)), axis=-1)
            log[lib]["accuracies"].append(float(np.mean(predictions == y)))
            for key, value in constraint_violation(x, x_adv, norm, eps).items():
                log[lib][key] = max(log[lib][key], value)
        print(" warm-up done" if seed == 0 else f" {seed}/{repeats}", end="", flush=True)
    results = {}
    for lib, entry in log.items():
        times, accuracies = entry["times"], entry["accuracies"]
        results[lib] = {
            "first_s": times[0], "median_s": statistics.median(times[1:]), "times_s": times,
            "robust_acc": float(np.mean(accuracies)), "robust_acc_min": min(accuracies),
            "robust_acc_max": max(accuracies), "robust_acc_per_call": accuracies,
            "within_constraints": entry["ball_excess"] <= TOLERANCE * max(eps, 1.0)
            and entry["box_excess"] <= TOLERANCE,
            **{key: entry[key] for key in ("max_radius", "ball_excess", "box_excess")},
        }
    return results


def compare(label, model, x, y, norms, repeats, with_accuracy, art_graph, rows, progress):
    """Measures both attacks in each norm; `repeats` maps an attack's name to its number of timed calls."""
    classifiers = {"art": art_classifier(model, x.shape[1:])}
    if art_graph:
        classifiers["art_graph"] = art_classifier(model, x.shape[1:], graph=True)
    clean = float(np.mean(np.argmax(np.asarray(model(x, training=False)), axis=-1) == y))
    kind = "digits" if label == "basicnet" else "wrn"
    for norm in norms:
        eps = EPS[kind][norm]
        for name, calls, impl in attacks(model, classifiers, norm, eps, len(x)):
            progress[0] += 1
            print(f"[{progress[0]}/{progress[1]}] {label} {name} {norm} eps={eps:.4g} (batch {len(x)}):", end="",
                  flush=True)
            row = {"model": label, "input": list(x.shape[1:]), "batch_size": len(x), "norm": norm, "eps": eps,
                   "attack": name, "art_implementation": impl, "clean_acc": clean if with_accuracy else None,
                   "accuracy_meaningful": with_accuracy, "repeats": repeats[name]}
            row.update(measure(calls, model, x, y, norm, eps, repeats[name]))
            print(" |" + ",".join(f" {lib} {row[lib]['median_s']:.3f} s" for lib in calls), flush=True)
            k = row["kerobust"]
            for lib in classifiers:
                row[f"time_ratio_{lib}_over_kerobust"] = row[lib]["median_s"] / k["median_s"]
                row[f"first_call_ratio_{lib}_over_kerobust"] = row[lib]["first_s"] / k["first_s"]
            row["robust_acc_diff_points"] = 100 * (k["robust_acc"] - row["art"]["robust_acc"])
            row["load_average_1min_after"] = os.getloadavg()[0]
            rows.append(row)


def table(rows):
    graph = any("art_graph" in r for r in rows)
    head = "| model | norm, eps | attack | kerobust s (first) | ART s (first) | ART / kerobust |"
    if graph:
        head += " ART graph s | ART graph / kerobust |"
    head += " kerobust rob. acc | ART rob. acc | diff (points) |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        k, a = r["kerobust"], r["art"]
        acc = lambda m: (f"{100 * m['robust_acc']:.2f} ({100 * m['robust_acc_min']:.1f}-"  # noqa: E731
                         f"{100 * m['robust_acc_max']:.1f})") if r["accuracy_meaningful"] else "-"
        diff = f"{r['robust_acc_diff_points']:+.2f}" if r["accuracy_meaningful"] else "-"
        line = (f"| {r['model']} | {r['norm']} {r['eps']:.4g} | {r['attack']} "
                f"| {k['median_s']:.3f} ({k['first_s']:.2f}) | {a['median_s']:.3f} ({a['first_s']:.2f}) "
                f"| {r['time_ratio_art_over_kerobust']:.1f} |")
        if graph:
            g = r.get("art_graph")
            line += (f" {g['median_s']:.3f} | {r['time_ratio_art_graph_over_kerobust']:.1f} |" if g else " - | - |")
        lines.append(line + f" {acc(k)} | {acc(a)} | {diff} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256, help="digits test points attacked (one batch)")
    parser.add_argument("--epochs", type=int, default=10, help="natural training epochs of the digits basicnet")
    parser.add_argument("--repeats", type=int, default=3, help="timed APGD calls after the warm-up call")
    parser.add_argument("--pgd-repeats", type=int, default=5, help="timed PGD calls after the warm-up call")
    parser.add_argument("--wrn-batch-size", type=int, default=32, help="0 skips the WRN-16-1 timing")
    parser.add_argument("--wrn-norms", nargs="*", default=["linf"], choices=["linf", "l2"])
    parser.add_argument("--no-art-graph", action="store_true", help="skip ART with the model behind a tf.function")
    args = parser.parse_args()

    import art
    import keras
    import tensorflow as tf

    import kerobust

    tf.get_logger().setLevel("ERROR")  # ART's predict retraces its tf.function for new batch shapes
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"note: load average {load_before[0]:.2f} before starting; other processes skew the timings")
    wrn = bool(args.wrn_batch_size and args.wrn_norms)
    progress = [0, 2 * (2 + (len(args.wrn_norms) if wrn else 0))]
    print(f"training basicnet on digits ({args.epochs} epochs) ...", flush=True)
    model, x, y = digits_model(args.epochs, args.batch_size)
    rows = []
    started = time.perf_counter()
    repeats = {f"PGD-{PGD_STEPS}": args.pgd_repeats, f"APGD-CE-{APGD_STEPS}": args.repeats}
    compare("basicnet", model, x, y, ["linf", "l2"], repeats, True, not args.no_art_graph, rows, progress)
    if wrn:
        model, x, y = wrn_model(args.wrn_batch_size)
        compare("WRN-16-1", model, x, y, args.wrn_norms, repeats, False, not args.no_art_graph, rows,
                progress)
    seconds = time.perf_counter() - started

    print(table(rows))
    libraries = [lib for lib in ("kerobust", "art", "art_graph") if lib in rows[0]]
    bad = [f"{r['model']} {r['attack']} {r['norm']} ({lib})" for r in rows for lib in libraries
           if not r[lib]["within_constraints"]]
    print("all adversarial examples within the eps-ball and the [0, 1] box" if not bad else
          f"CONSTRAINT VIOLATIONS: {', '.join(bad)}")
    out = {
        "date": datetime.date.today().isoformat(), "backend": keras.backend.backend(), "cpu_count": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "attack_seconds_total": seconds,
        "versions": {"kerobust": kerobust.__version__, "adversarial-robustness-toolbox": art.__version__,
                     "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "settings": {"digits_batch_size": args.batch_size, "digits_epochs": args.epochs, "repeats": args.repeats,
                     "pgd_repeats": args.pgd_repeats, "wrn_batch_size": args.wrn_batch_size, "eps": EPS,
                     "pgd_steps": PGD_STEPS, "pgd_step_size": "2.5 * eps / 20", "apgd_steps": APGD_STEPS,
                     "apgd_initial_step": "2 * eps", "random_starts": 1,
                     "time": "median of the repeats after one warm-up call",
                     "robust_acc": "mean over the warm-up and the repeats (seeds 0..repeats)",
                     "art_graph": "ART with the model wrapped in tf.function (same weights)"},
        "violations": bad, "rows": rows,
    }
    path = os.path.join(os.path.dirname(__file__), "results", "art_comparison.json")
    write_text(path, json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
