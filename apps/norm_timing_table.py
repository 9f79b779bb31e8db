"""Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Table 1 on this machine:
seconds for 100 computations of each norm of six Conv2D kernels on a 32x32 input, in the paper's layout (l2 by power
iteration "VS", l2 by the circulant spectrum "SGL", kerobust's exact l1 and l-inf), with the paper's GPU numbers
beside for scale and a log-scale bar chart.

The measurement is `benchmarks/norms_timing.py` (see its docstring): l1 / l-inf are medians of `--repeats` calls, the
l2 methods one call each (power iteration until the vector moves less than 1e-8 or 500 iterations); the 100-run
figures multiply those per-call times by 100. Writes `OUT/table1.md`, `OUT/table1.json` and `OUT/table1.png`;
`--report-only` rewrites the markdown and PNG from `OUT/table1.json` without measuring.

    python -m apps.norm_timing_table [--repeats 20] [--out apps/results/liang2021_table1] [--report-only]
"""

import os
import sys


from apps.study_options import positive, run_study, stored_rows, study_parser  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.norms_timing import measure_shapes  # noqa: E402

# Liang & Huang (2021) Table 1 (GTX 1080 Ti, seconds for 100 runs): l2 (VS), l2 (SGL), l1 (ours), l-inf (ours).
PAPER = {
    (3, 3, 32, 32): (26.5, 5.75, 0.00605, 0.00576),
    (3, 3, 32, 128): (27.4, 6.92, 0.00682, 0.00575),
    (3, 3, 128, 256): (29.0, 98.0, 0.00576, 0.00560),
    (3, 3, 256, 512): (59.4, 490, 0.0117, 0.00898),
    (5, 5, 256, 128): (59.7, 91.5, 0.0103, 0.00729),
    (5, 5, 512, 256): (255, 523, 0.0239, 0.0180),
}
METHODS = (("power_s", "l2 (VS)"), ("fft_svd_s", "l2 (SGL)"), ("l1_s", "l1 (ours)"), ("linf_s", "l-inf (ours)"))


THIS_RUN = "this machine"
PAPER_MACHINE = "paper, GTX 1080 Ti"


def table(rows):
    from kerobust.evaluation.report import markdown

    header = (["kernel size"] + [label for _, label in METHODS]
              + [f"VS / l1 ({THIS_RUN})", f"VS / l1 ({PAPER_MACHINE})"])
    lines = []
    for row in rows:
        shape = tuple(row["kernel"])
        ours = [f"{100 * row[key]:.3g}" for key, _ in METHODS]
        paper = PAPER.get(shape)
        lines.append([", ".join(map(str, shape))] + ours + [
            f"{row['power_over_l1']:,.0f}", "-" if paper is None else f"{paper[0] / paper[2]:,.0f}",
        ])
    return markdown(header, lines)


def report(rows):
    """The markdown: a caption saying whose numbers are whose, then the table."""
    return "\n".join([
        f"Seconds for 100 computations of each norm of a Conv2D kernel on a 32x32 input, all measured on "
        f"{THIS_RUN} except the last column ({PAPER_MACHINE}: Liang & Huang's (2021) Table 1, shown only as its ratio "
        "of power iteration to l1, since the hardware differs).", "", table(rows)])


def plot(rows, path):
    from kerobust.figures import png_figure

    import numpy as np

    with png_figure(path, figsize=(8, 3.6)) as (figure, axis):
        width = 0.2
        positions = np.arange(len(rows))
        for i, (key, label) in enumerate(METHODS):
            axis.bar(positions + (i - 1.5) * width, [100 * r[key] for r in rows], width, label=label)
        axis.set_yscale("log")
        axis.set_xticks(positions, ["x".join(map(str, r["kernel"])) for r in rows], fontsize=8)
        axis.set_ylabel("seconds for 100 runs (log scale)")
        axis.set_xlabel("kernel shape kh x kw x c_in x c_out")
        axis.set_title("Norms of Conv2D kernels on a 32x32 input (this machine)")
        axis.legend(fontsize=8)


def main(argv=None):
    parser = study_parser(__doc__)
    parser.add_argument("--repeats", type=positive, default=20, help="timed l1 / l-inf calls per kernel")
    parser.add_argument("--shapes", nargs="*", default=None, help="kernel shapes as kh,kw,cin,cout (default: Table 1)")
    parser.add_argument("--out", default="apps/results/liang2021_table1")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite the markdown and PNG from OUT/table1.json")
    args = parser.parse_args(argv)

    from kerobust.evaluation.report import write_study

    if args.report_only:
        rows = stored_rows(os.path.join(args.out, "table1.json"))
        if rows is None:
            return 2
    else:
        rows = measure_shapes(args.shapes, args.repeats)
    write_study(args.out, "table1", report(rows), rows, lambda path: plot(rows, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
