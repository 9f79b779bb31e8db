"""Epsilon sweeps: accuracy against eps per attack and model, as a markdown table and a PNG plot."""

from __future__ import annotations

from typing import Mapping

from kerobust.evaluation.report import attack_label, markdown, worst_case_label
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult
from kerobust.figures import png_figure


def _curve_name(attack: AttackAccuracy) -> str:
    label = attack_label(attack)
    if attack.steps > 1 and not attack.suite:
        label = label.replace(attack.name, f"{attack.name}-{attack.steps}", 1)
    return label


def sweep_curves(result: RobustnessResult) -> dict[str, list[tuple[float, float]]]:
    """`{curve name: [(eps, top-1 accuracy), ...]}` of one `RobustnessResult`, sorted by eps; the curve
    "all attacks" (per-norm) counts points robust to every attack at that eps."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for attack in result.attacks:
        curves.setdefault(_curve_name(attack), []).append((attack.eps, attack.top1))
    for entry in result.worst_case:
        name = worst_case_label(entry)
        if name:
            curves.setdefault(name, []).append((entry["eps"], entry["top1"]))
    return {name: sorted(points) for name, points in curves.items()}


def format_sweep_table(results: Mapping[str, RobustnessResult]) -> str:
    """Markdown table: one row per model and attack, one column per eps (top-1 accuracy, percent)."""
    curves = {title: sweep_curves(result) for title, result in results.items()}
    epsilons = sorted({eps for by_name in curves.values() for points in by_name.values() for eps, _ in points})
    rows = []
    for title, by_name in curves.items():
        for name, points in by_name.items():
            values = dict(points)
            rows.append([title, name] + [f"{100 * values[e]:.2f}" if e in values else "-" for e in epsilons])
    return markdown(["Model", "Attack"] + [f"eps={e:.4g}" for e in epsilons], rows)


def plot_sweep(results: Mapping[str, RobustnessResult], path: str, title: str = "Robust accuracy against eps") -> None:
    """Writes a PNG: top-1 accuracy against eps, a colour per attack, a line style per model (with clean accuracy at
    eps = 0)."""
    styles = ["-", "--", ":", "-."]
    colours: dict[str, str] = {}
    with png_figure(path, figsize=(7, 4.5)) as (figure, axes):
        for m, (model, result) in enumerate(results.items()):
            for name, points in sweep_curves(result).items():
                colour = colours.setdefault(name, f"C{len(colours) % 10}")
                eps, accuracy = zip(*([(0.0, result.clean_top1)] + points))
                axes.plot(eps, [100 * a for a in accuracy], styles[m % len(styles)], marker="o", markersize=3,
                          color=colour, label=f"{model}: {name}" if len(results) > 1 else name)
        axes.set_xlabel("eps")
        axes.set_ylabel("top-1 accuracy (%)")
        axes.set_ylim(0, 100)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
