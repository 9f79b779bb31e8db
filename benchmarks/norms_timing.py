"""Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Table 1 on this machine:
time to compute the norms of six Conv2D kernels on a 32x32 input (stride 1, `same` padding), kerobust's exact l1 /
l-inf against the l2 methods, in the same run.

Per kernel shape (kh, kw, Cin, Cout): kerobust's `conv_l1_norm` and `conv_linf_norm` (median of `--repeats` calls
after a warm-up), power iteration on the layer (`kerobust.norms.power_iteration`, Virmaux & Scaman: until the
vector moves less than 1e-8 or 500 iterations; one call, including building and tracing its graph), and the FFT
spectrum of the circular convolution (Sedghi et al.: NumPy FFT and batched SVD of the 32 x 32 = 1024 frequency
matrices; one call). The dense matrix of these layers (up to 524,288 columns) is too large for a dense SVD here.
Ratios: power iteration (or FFT SVD) time / l1 time. The l2 values printed beside show that power iteration and the
FFT spectrum agree where they should (same padding is not circular, so they differ slightly) and that l2 <= sqrt(l1
l-inf) holds (the Riesz-Thorin bound, a check that the numbers belong together).

    python benchmarks/norms_timing.py [--repeats 20] [--shapes 3,3,32,32 ...]
"""

import argparse
import datetime
import os
import statistics
import time

from kerobust.atomic_files import write_json

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPES = [(3, 3, 32, 32), (3, 3, 32, 128), (3, 3, 128, 256), (3, 3, 256, 512), (5, 5, 256, 128), (5, 5, 512, 256)]
SIZE = 32


def median_seconds(function, repeats):
    """Median wall time of `repeats` calls of `function`, after one warm-up call."""
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(shape, repeats):
    import keras
    import numpy as np

    from kerobust.norms import circular_singular_values, conv_l1_norm, conv_linf_norm, power_iteration

    kernel = np.random.default_rng(0).normal(scale=0.05, size=shape).astype("float32")
    size = (SIZE, SIZE)
    row = {"kernel": list(shape), "input": [SIZE, SIZE, shape[2]]}
    row["l1_s"] = median_seconds(lambda: float(conv_l1_norm(kernel, size, 1, "same")), repeats)
    row["linf_s"] = median_seconds(lambda: float(conv_linf_norm(kernel, size, 1, "same")), repeats)
    row["l1"], row["linf"] = (float(conv_l1_norm(kernel, size, 1, "same")),
                              float(conv_linf_norm(kernel, size, 1, "same")))
    conv = keras.layers.Conv2D(shape[3], shape[:2], padding="same", use_bias=False)
    conv.build((None, SIZE, SIZE, shape[2]))
    conv.set_weights([kernel])
    start = time.perf_counter()
    row["l2_power"], _ = power_iteration(conv, (SIZE, SIZE, shape[2]))
    row["power_s"] = time.perf_counter() - start
    start = time.perf_counter()
    row["l2_fft_circular"] = float(circular_singular_values(kernel, SIZE).max())
    row["fft_svd_s"] = time.perf_counter() - start
    row["power_over_l1"] = row["power_s"] / row["l1_s"]
    row["fft_over_l1"] = row["fft_svd_s"] / row["l1_s"]
    row["riesz_thorin_ok"] = row["l2_power"] <= (row["l1"] * row["linf"]) ** 0.5 * (1 + 1e-5)
    return row


def measure_shapes(shapes, repeats):
    """`measure` for each kernel shape given as "kh,kw,cin,cout" (default: Table 1's six), with a progress bar."""
    import keras

    shapes = [tuple(int(v) for v in s.split(",")) for s in shapes] if shapes else SHAPES
    rows = []
    progress = keras.utils.Progbar(len(shapes), unit_name="kernel")
    for i, shape in enumerate(shapes):
        rows.append(measure(shape, repeats))
        progress.update(i + 1)
    return rows


def main():
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed l1 / l-inf calls per kernel")
    parser.add_argument("--shapes", nargs="*", default=None, help="kernel shapes as kh,kw,cin,cout (default: Table 1)")
    args = parser.parse_args()
    rows = measure_shapes(args.shapes, args.repeats)
    print("| kernel | l1 s | l-inf s | power iteration s | FFT SVD s | power / l1 | FFT SVD / l1 | l1 | l-inf | "
          "l2 (power) | l2 (FFT, circular) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {', '.join(map(str, r['kernel']))} | {r['l1_s']:.5f} | {r['linf_s']:.5f} | {r['power_s']:.2f} | "
              f"{r['fft_svd_s']:.2f} | {r['power_over_l1']:,.0f} | {r['fft_over_l1']:,.0f} | {r['l1']:.3f} | "
              f"{r['linf']:.3f} | {r['l2_power']:.3f} | {r['l2_fft_circular']:.3f} |")
    path = os.path.join(os.path.dirname(__file__), "results", "norms_timing.json")
    payload = {"date": datetime.date.today().isoformat(), "backend": keras.backend.backend(),
               "cpu_count": os.cpu_count(), "input": [SIZE, SIZE], "padding": "same", "stride": 1, "rows": rows}
    write_json(path, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
