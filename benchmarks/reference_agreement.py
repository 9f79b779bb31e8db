"""The field's reference implementations as standing peers, on the same networks, converted through kerobust's own
ONNX export: robust accuracy and certified bounds point by point, and time as ratios.

(a) AutoAttack on a PGD-trained basicnet (digits, l-inf `--eps`): kerobust's standard `autoattack` (APGD-CE, APGD-T,
    FAB-T, Square-5000) against torchattacks' `AutoAttack(version="standard")` rebuilt with the reference's 100
    iterations (torchattacks builds APGD, APGD-T and FAB with 10), and against the authors' own code (Croce & Hein,
    fra31/auto-attack) when `--original-autoattack SRC` names a checkout of it. Reported: robust accuracy, the points
    robust for one and not the other, and seconds: kerobust's first call (which traces its graphs) untimed against
    the peers, then `--rounds` alternating rounds of every side on all points; ratios compare each side's fastest
    round, and kerobust's seconds per member are recorded.
(b) Bounds on an IBP-trained certcnn (`--auto-lirpa SRC`, a checkout of auto_LiRPA's source): kerobust's IBP,
    CROWN-IBP and CROWN margins (lower bounds on min_{c != y} z_y - z_c over the l-inf ball in the [0, 1] box) against
    auto_LiRPA's IBP, CROWN-IBP, CROWN and alpha-CROWN ("CROWN-Optimized"): certified counts, mean and max margin
    difference, seconds. auto_LiRPA's current source runs on a recent torch once the TorchScript exporter's opset 7-20
    symbolic modules are imported before a `BoundedModule` is built (done below).

The torch side gets each network as onnx2torch's conversion of kerobust's ONNX file (NHWC, as Keras), behind a
transpose so that it takes NCHW images, as torchattacks' Square assumes; the logits of the two are compared first.

Needs the `bench` extra's peers in the environment: torch (the CPU build, or any build run on the CPU), torchvision
(onnx2torch imports it), onnx2torch, torchattacks, and kerobust's `onnx` extra.

    python benchmarks/reference_agreement.py [--points 360] [--eps 0.1,0.2] [--epochs 10] [--cert-epochs 30]
        [--rounds 2] [--original-autoattack SRC] [--auto-lirpa SRC] [--skip-attacks] [--skip-bounds]

Writes benchmarks/results/reference_agreement.json.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import tempfile
import time

import numpy as np
# The torch peers before anything imports TensorFlow: torchvision imported after TensorFlow crashes the process (seen
# with TensorFlow 2.20 and torchvision 0.29.1 on the CPU).
import onnx2torch  # noqa: F401
import torch
import torchattacks  # noqa: F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CERT_EPS = (0.05, 0.1, 0.15)
OUT = os.path.join(os.path.dirname(__file__), "results", "reference_agreement.json")


def train(arch: str, method: str, epochs: int, eps: float, run_dir: str, **options):
    """A kerobust fit on digits (no probe, no export): its classifier."""
    from kerobust.experiment import FitConfig, run

    config = FitConfig(arch=arch, data="digits", train_method=method, epochs=epochs, eps=eps, val_points=0,
                       diagnostics_points=0, export=False, run_dir=run_dir, **options)
    return run(config, log=lambda line: None).classifier


def as_torch(model, folder: str, probe: np.ndarray):
    """onnx2torch's conversion of kerobust's ONNX export of `model`, taking NCHW images; and the largest logit
    difference to the Keras model on `probe`. A Dense head becomes a `torch.nn.Linear` after the converted body (the
    ONNX graph's MatMul and Add would hide it from auto_LiRPA, which folds the specification into a final linear
    layer, as kerobust's bounds do: Gowal et al.'s elision)."""
    import keras

    from kerobust.export.onnx import export_onnx

    head = model.layers[-1]
    body = keras.Model(model.inputs, head.input) if isinstance(head, keras.layers.Dense) else model
    path = os.path.join(folder, f"{model.name}.onnx")
    export_onnx(body, path, probe[:64])
    layers = [NCHW(onnx2torch.convert(path))]
    if body is not model:
        kernel, bias = head.get_weights()
        linear = torch.nn.Linear(*kernel.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias))
        layers.append(linear)
    network = torch.nn.Sequential(*layers).eval()
    with torch.no_grad():
        torch_logits = network(torch.from_numpy(probe.transpose(0, 3, 1, 2).copy())).numpy()
    return network, float(np.max(np.abs(torch_logits - np.asarray(model(probe)))))


class NCHW(torch.nn.Module):
    """A network of NHWC images (as Keras's) that takes NCHW ones."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 2, 3, 1))


def torch_predictions(network, images):
    with torch.no_grad():
        return network(images).argmax(1).numpy()


def check_ball(clean, adversarial, eps):
    """The largest l-inf distance and whether every example lies in the ball and the box."""
    distance = float(np.abs(adversarial - clean).max())
    return distance, bool(distance <= eps + 1e-5 and adversarial.min() >= 0 and adversarial.max() <= 1)


def reference_standard_autoattack(network, eps, seed):
    """torchattacks' standard AutoAttack with the reference's budgets: 100 iterations for APGD-CE, APGD-T (9 targets)
    and FAB-T (9 targets), Square with 5000 queries, one restart each."""
    import torchattacks as ta

    members = [
        ta.APGD(network, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        ta.APGDT(network, norm="Linf", eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed),
        ta.FAB(network, norm="Linf", eps=eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10, seed=seed),
        ta.Square(network, norm="Linf", eps=eps, n_queries=5000, n_restarts=1, seed=seed),
    ]
    return ta.MultiAttack(members)


def compare_attacks(args, model, network, x, y):
    """Part (a): per eps, kerobust's standard AutoAttack against each reference's, in `args.rounds` alternating rounds
    (kerobust, then each peer) so that a slow spell of a shared machine does not fall on one side only; the ratios
    compare each side's fastest round."""
    from kerobust.attacks.suite import autoattack

    images, labels = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y.astype("int64"))
    rows = []
    for eps in args.eps:
        peers = {"torchattacks": lambda: reference_standard_autoattack(network, eps, args.seed)(images, labels)}
        if args.original_autoattack:
            peers["original"] = lambda: original_autoattack(args, network, eps, images, labels)
        suite = autoattack(eps)
        started = time.perf_counter()
        ours = kerobust_robust_points(suite, model, x, y, args.seed, {})  # traces the attack graphs
        row = {"eps": eps, "points": len(x),
               "kerobust": {"robust_accuracy": 100 * float(ours.mean()),
                            "first_call_seconds": round(time.perf_counter() - started, 1), "rounds": []}}
        row.update({name: {"rounds": []} for name in peers})
        for _ in range(args.rounds):
            members = {}
            started = time.perf_counter()
            again = kerobust_robust_points(suite, model, x, y, args.seed, members)
            row["kerobust"]["rounds"].append(round(time.perf_counter() - started, 1))
            row["kerobust"]["member_seconds"] = members
            row["kerobust"]["same_points_every_call"] = bool(np.array_equal(again, ours))  # a fixed seed
            for name, attack in peers.items():
                torch.manual_seed(args.seed)
                started = time.perf_counter()
                adversarial = attack().detach()
                row[name]["rounds"].append(round(time.perf_counter() - started, 1))
                theirs = torch_predictions(network, adversarial) == y
                distance, inside = check_ball(images.numpy(), adversarial.numpy(), eps)
                row[name].update({"robust_accuracy": 100 * float(theirs.mean()),
                                  "robust_only_for_kerobust": int(np.sum(ours & ~theirs)),
                                  "robust_only_for_reference": int(np.sum(theirs & ~ours)),
                                  "largest_perturbation": distance, "inside_ball_and_box": inside})
        row["kerobust"]["seconds"] = min(row["kerobust"]["rounds"])
        for name in peers:
            row[name]["seconds"] = min(row[name]["rounds"])
            row[name]["time_ratio_reference_over_kerobust"] = round(row[name]["seconds"] / row["kerobust"]["seconds"],
                                                                    2)
        rows.append(row)
        print(format_attack_row(row), flush=True)
    return rows


def kerobust_robust_points(suite, model, x, y, seed, member_seconds):
    """Which points stay robust under kerobust's `suite`, with each member's seconds recorded in `member_seconds`."""
    from kerobust.attacks.predictions import predict

    return predict(model, suite(model, x, y, seed, member_seconds=member_seconds)).argmax(axis=-1) == y


def original_autoattack(args, network, eps, images, labels):
    """The authors' AutoAttack (fra31/auto-attack), standard version, on the CPU."""
    sys.path.insert(0, args.original_autoattack)
    from autoattack import AutoAttack

    attack = AutoAttack(network, norm="Linf", eps=eps, version="standard", seed=args.seed, device="cpu")
    return attack.run_standard_evaluation(images, labels, bs=len(images))


def format_attack_row(row):
    ours = row["kerobust"]
    parts = [f"l-inf {row['eps']:g}: kerobust {ours['robust_accuracy']:.2f} % in {ours['seconds']:.0f} s "
             f"(rounds {ours['rounds']}, first call {ours['first_call_seconds']:.0f} s; {ours['member_seconds']})"]
    for name in ("torchattacks", "original"):
        if name in row:
            peer = row[name]
            parts.append(f"{name} {peer['robust_accuracy']:.2f} % in {peer['seconds']:.0f} s (rounds {peer['rounds']}; "
                         f"x{peer['time_ratio_reference_over_kerobust']:.2f}; robust only for kerobust "
                         f"{peer['robust_only_for_kerobust']}, only for {name} {peer['robust_only_for_reference']})")
    return "; ".join(parts)


def lirpa_margins(args, network, x, y, eps, method):
    """auto_LiRPA's lower bounds on min_{c != y} z_y - z_c over the l-inf ball of radius eps in the [0, 1] box."""
    sys.path.insert(0, args.auto_lirpa)
    for version in range(7, 21):  # the TorchScript exporter's symbolic functions, registered before tracing
        importlib.import_module(f"torch.onnx._internal.torchscript_exporter.symbolic_opset{version}")
    from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm

    images = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(y.astype("int64"))
    # Traced on the whole batch: the converted graph computes its Flatten's shape, which tracing freezes.
    bounded = BoundedModule(network, torch.zeros_like(images), device="cpu", verbose=0)
    classes = 10
    spec = torch.eye(classes)[labels].unsqueeze(1) - torch.eye(classes).unsqueeze(0)  # rows e_y - e_c
    keep = torch.arange(classes).unsqueeze(0) != labels.unsqueeze(1)
    spec = spec[keep].view(len(y), classes - 1, classes)
    ball = PerturbationLpNorm(norm=np.inf, eps=eps, x_L=(images - eps).clamp(0, 1), x_U=(images + eps).clamp(0, 1))
    started = time.perf_counter()
    lower, _ = bounded.compute_bounds(x=(BoundedTensor(images, ball),), C=spec, method=method, bound_upper=False)
    return lower.min(dim=1).values.detach().numpy(), time.perf_counter() - started


def compare_bounds(args, model, network, x, y):
    """Part (b): per eps, kerobust's IBP, CROWN-IBP and CROWN against auto_LiRPA's, and auto_LiRPA's alpha-CROWN."""
    from kerobust.evaluation.certifiers import build_certifier

    pairs = (("ibp", "IBP"), ("crown-ibp", "CROWN-IBP"), ("crown", "CROWN"), (None, "CROWN-Optimized"))
    rows = []
    for eps in CERT_EPS:
        for ours_name, theirs_name in pairs:
            theirs, their_seconds = lirpa_margins(args, network, x, y, eps, theirs_name)
            row = {"eps": eps, "auto_lirpa_method": theirs_name, "auto_lirpa_certified": int(np.sum(theirs > 0)),
                   "auto_lirpa_seconds": round(their_seconds, 2)}
            if ours_name:
                certifier = build_certifier(model, ours_name, "linf")
                certifier.margins(x[:8], y[:8], eps)  # tracing, outside the timing
                started = time.perf_counter()
                ours = certifier.margins(x, y, eps)
                row.update(kerobust_method=ours_name, kerobust_certified=int(np.sum(ours > 0)),
                           kerobust_seconds=round(time.perf_counter() - started, 2),
                           mean_abs_difference=float(np.mean(np.abs(ours - theirs))),
                           max_abs_difference=float(np.max(np.abs(ours - theirs))),
                           kerobust_tighter_points=int(np.sum(ours > theirs + 1e-5)),
                           auto_lirpa_tighter_points=int(np.sum(theirs > ours + 1e-5)))
            rows.append(row)
            print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=360)
    parser.add_argument("--eps", default="0.1,0.2", help="l-inf radii of the AutoAttack comparison")
    parser.add_argument("--epochs", type=int, default=10, help="PGD training epochs of the attacked basicnet")
    parser.add_argument("--cert-epochs", type=int, default=30, help="IBP training epochs of the certified certcnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each AutoAttack, alternating")
    parser.add_argument("--original-autoattack", default=None, help="a checkout of fra31/auto-attack")
    parser.add_argument("--auto-lirpa", default=None, help="a checkout of auto_LiRPA's source")
    parser.add_argument("--skip-attacks", action="store_true")
    parser.add_argument("--skip-bounds", action="store_true")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    args.eps = [float(e) for e in args.eps.split(",")]

    from kerobust.atomic_files import write_json
    from kerobust.data import load_dataset

    torch.set_num_threads(os.cpu_count() or 1)
    data = load_dataset("digits")
    x, y = data.x_test[: args.points].astype("float32"), data.y_test[: args.points]
    report = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "torch": torch.__version__, "points": len(x)}
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_attacks:
            model = train("basicnet", "pgd", args.epochs, 0.2, os.path.join(folder, "pgd"))
            network, difference = as_torch(model, folder, x)
            report["attacks"] = {"model": f"basicnet, PGD-10 training at l-inf 0.2, {args.epochs} epochs",
                                 "largest_logit_difference": difference,
                                 "rows": compare_attacks(args, model, network, x, y)}
        if not args.skip_bounds and args.auto_lirpa:
            model = train("certcnn", "ibp", args.cert_epochs, 0.15, os.path.join(folder, "ibp"))
            network, difference = as_torch(model, folder, x)
            report["bounds"] = {"model": f"certcnn, IBP training at l-inf 0.15, {args.cert_epochs} epochs",
                                "largest_logit_difference": difference,
                                "rows": compare_bounds(args, model, network, x, y)}
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
