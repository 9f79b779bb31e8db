"""GPU throughput of adversarial training: PGD-10 and free (m = 4) steps of WRN-16-k on CIFAR-shaped batches.

kerobust on Keras 3 / JAX under mixed precision (`mixed_bfloat16`) beside the same network and steps in PyTorch on the
same GPU, in one run: a plain fp32 loop, and PyTorch's best setup (`torch.compile`, bf16 autocast, channels_last).
Each row gives images per second and the achieved share of the GPU's bf16 matmul peak, measured in the same run (an
8192^3 bf16 product in JAX) and, with `--spec-tflops`, of the data-sheet peak.

Needs only JAX (with its GPU plugin), Keras, kerobust's pure-Python dependencies and PyTorch: no TensorFlow, which GPU
machines often lack. Usage:

    KERAS_BACKEND=jax python benchmarks/gpu_throughput.py [--k 1 4 10] [--batch-size 128] [--batches 10]
    KERAS_BACKEND=jax python benchmarks/gpu_throughput.py --smoke     # seconds on a CPU: checks the script runs

Counting: an image counts once per training pass (a PGD-10 step processes B images, a free step m x B). FLOPs are
2 x the multiply-adds of every conv and dense layer (the WRN's forward pass, F per image); an attack pass (forward and
input gradient) costs 2F, a training pass (forward, input and weight gradients) 3F, so a PGD-10 step is (10 x 2 + 3)
F B and a free step m x 3F B. Writes benchmarks/results/gpu_throughput.json.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

EPS, ALPHA, STEPS, REPLAYS = 8 / 255, 2 / 255, 10, 4
PASSES = {"pgd-10": STEPS * 2 + 3, "free": REPLAYS * 3}  # forward-pass equivalents per image of one step
IMAGES = {"pgd-10": 1, "free": REPLAYS}  # training passes per image of one step


def forward_macs(k, size=32):
    """Multiply-adds per image of WRN-16-k's forward pass on `size` x `size` x 3 inputs, counted from the Keras model's
    own conv and dense layers."""
    import keras

    from kerobust.models import build_model

    model = build_model("wrn", (size, size, 3), 10, (0.5,) * 3, (0.25,) * 3, k=k, norm="bn")
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            macs += h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(layer.kernel.shape))
    return macs


def matmul_peak_tflops(size=8192, repeats=10):
    """The bf16 matmul rate this GPU reaches in JAX (mean of `repeats` products after warm-up)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.bfloat16)
    b = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.bfloat16)
    product = jax.jit(jnp.matmul)
    for _ in range(3):
        product(a, b).block_until_ready()
    started = time.perf_counter()
    for _ in range(repeats):
        out = product(a, b)
    out.block_until_ready()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e12


def keras_seconds_per_step(k, method, x, y, batches):
    import keras

    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    classifier = build_model("wrn", x.shape[1:], 10, (0.5,) * 3, (0.25,) * 3, k=k, norm="bn")
    training = build_training_method("pgd" if method == "pgd-10" else "free", eps=EPS, steps=STEPS, step_size=ALPHA,
                                     replays=REPLAYS)
    trainer = AdversarialModel(classifier, training, batch_size=len(x))
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    trainer.train_on_batch(x, y)  # compiles; the logs it returns are fetched, so each call ends on the device
    started = time.perf_counter()
    for _ in range(batches):
        trainer.train_on_batch(x, y)
    seconds = (time.perf_counter() - started) / batches
    keras.mixed_precision.set_global_policy("float32")
    return seconds


def torch_seconds_per_step(k, method, x, y, batches, best, device):
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_wide_resnet import WideResNet, free_step, pgd_step

    torch.manual_seed(0)
    model = WideResNet(16, k).to(device)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    yt = torch.from_numpy(y).long().to(device)
    if best:
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    network = torch.compile(model) if best else model
    delta = torch.zeros_like(xt)
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=best)

    def step():
        nonlocal delta
        with autocast:
            if method == "pgd-10":
                pgd_step(network, optimizer, xt, yt, EPS, ALPHA, STEPS)
            else:
                delta = free_step(network, optimizer, xt, yt, delta, EPS, REPLAYS)

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2 if best else 1):  # compiles (train and eval graphs) and warms up
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    synchronize()
    return (time.perf_counter() - started) / batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--spec-tflops", type=float, default=None,
                        help="the data sheet's dense bf16 peak (H200 SXM: 989), for a second share")
    parser.add_argument("--smoke", action="store_true", help="k 1, batch 8, 1 batch, small matmul: checks the script")
    args = parser.parse_args()
    import keras

    if keras.backend.backend() != "jax":
        parser.error("run with KERAS_BACKEND=jax (the GPU path of this benchmark is Keras on JAX)")
    import jax
    import torch

    if args.smoke:
        args.k, args.batch_size, args.batches = [1], 8, 1
    device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = matmul_peak_tflops(1024 if args.smoke else 8192)
    print(f"JAX on {jax.devices()[0].device_kind}, PyTorch on {device}; bf16 matmul peak measured {peak:.0f} TFLOP/s",
          flush=True)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size)
    rows = []
    for k in args.k:
        flops_per_pass = 2 * forward_macs(k) * args.batch_size
        for method in ("pgd-10", "free"):
            seconds = {"kerobust_jax_bf16": keras_seconds_per_step(k, method, x, y, args.batches),
                       "torch_plain_fp32": torch_seconds_per_step(k, method, x, y, args.batches, False, device),
                       "torch_best": torch_seconds_per_step(k, method, x, y, args.batches, True, device)}
            row = {"model": f"WRN-16-{k}", "method": method, "s_per_step": seconds}
            row["images_per_s"] = {name: IMAGES[method] * args.batch_size / s for name, s in seconds.items()}
            tflops = {name: PASSES[method] * flops_per_pass / s / 1e12 for name, s in seconds.items()}
            row["share_of_measured_peak"] = {name: value / peak for name, value in tflops.items()}
            if args.spec_tflops:
                row["share_of_spec_peak"] = {name: value / args.spec_tflops for name, value in tflops.items()}
            row["speed_ratio_vs_best_torch"] = seconds["torch_best"] / seconds["kerobust_jax_bf16"]
            rows.append(row)
            print(f"{row['model']:10s} {method:7s} " + "  ".join(
                f"{name} {row['images_per_s'][name]:8.0f} img/s ({100 * row['share_of_measured_peak'][name]:.1f} %)"
                for name in seconds) + f"  ratio {row['speed_ratio_vs_best_torch']:.2f}", flush=True)
    out = {"device": jax.devices()[0].device_kind, "torch_device": device, "jax": jax.__version__,
           "keras": keras.__version__, "torch": torch.__version__, "batch_size": args.batch_size,
           "batches": args.batches, "matmul_peak_tflops": peak, "spec_tflops": args.spec_tflops, "smoke": args.smoke,
           "rows": rows}
    folder = os.environ.get("OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    path = os.path.join(folder, "gpu_throughput_smoke.json" if args.smoke else "gpu_throughput.json")
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(out, handle, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
