"""Robustness tables in the layout of Table 1 of O'Hanlon (2021), "Adversarial Robustness of Convolutional
Networks", the `metrics.json` file, and the outputs of a study."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

from kerobust.errors import KerobustError
from kerobust.atomic_files import write_json, write_text
from kerobust.evaluation.result import AttackAccuracy, RobustnessResult


def _cell(value: float) -> str:
    return f"{100 * value:.2f}"


def variant(attack: AttackAccuracy) -> str:
    """What an attack result's description adds after its radius: e.g. `EOT-10`, `x5 restarts`, `x9 targets`."""
    return attack.description.partition(f" eps={attack.eps:g}")[2].strip()


def worst_case_label(entry: Mapping[str, Any]) -> str | None:
    """Row label of a worst-case entry ("all attacks", with the norm unless l-inf), or None when only one attack ran
    at its threat model (the row would repeat that attack's)."""
    if len(entry["attacks"]) <= 1:
        return None
    return "all attacks" if entry["norm"] == "linf" else f"all attacks-{entry['norm']}"


def attack_label(attack: AttackAccuracy) -> str:
    """Row label of an attack result: `PGD`, `PGD-l2`, `PGD EOT-10`, `autoattack/APGD-T` (a suite member,
    cumulative)."""
    name = attack.name if attack.norm == "linf" else f"{attack.name}-{attack.norm}"
    if attack.suite and attack.name != attack.suite:
        name = f"{attack.suite}/{name}"
    return f"{name} {variant(attack)}".strip()


def markdown(header: Sequence[Any], rows: list[list[Any]]) -> str:
    """A markdown table with padded columns."""
    widths = [max(len(str(row[c])) for row in [header] + rows) for c in range(len(header))]
    line = lambda row: "| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def format_table(results: Mapping[str, RobustnessResult] | RobustnessResult) -> str:
    """Markdown table: rows top-1 / top-5 accuracy by attack, one column per model (percent); a row "all attacks"
    per threat model where several attacks ran at it (points robust to every one); masking warnings underneath.

    Args:
        results: one `RobustnessResult` (a column titled "accuracy (%)"), or a mapping of column title (e.g. a model
            name) to `RobustnessResult`; all share the same attacks.
    """
    if isinstance(results, RobustnessResult):
        results = {"accuracy (%)": results}
    elif not isinstance(results, Mapping):
        raise KerobustError("format_table needs a RobustnessResult or a mapping of column title to RobustnessResult, "
                            f"got {type(results).__name__}.")
    titles = list(results)
    first = results[titles[0]]
    header = ["Accuracy", "Attack", "eps", "steps"] + titles
    rows = []
    for k, label in ((1, "top-1"), (5, "top-5")):
        key = f"top{k}"
        rows.append([label, "Clean", "-", "-"] + [_cell(getattr(r, f"clean_{key}")) for r in results.values()])
        for i, attack in enumerate(first.attacks):
            cells = [_cell(getattr(r.attacks[i], key)) for r in results.values()]
            rows.append(["", attack_label(attack), f"{attack.eps:.4g}", str(attack.steps)] + cells)
        for j, entry in enumerate(first.worst_case):
            name = worst_case_label(entry)
            if name:
                cells = [_cell(r.worst_case[j][key]) for r in results.values()]
                rows.append(["", name, f"{entry['eps']:.4g}", "-"] + cells)
    lines = [markdown(header, rows)]
    for title, result in results.items():
        for note in result.notes:
            lines.append(f"> note ({title}): {note}")
        for warning in result.warnings:
            lines.append(f"> warning ({title}, possible gradient masking): {warning['message']}")
    return "\n".join(lines)


def write_metrics(path: str, result: RobustnessResult, **extra: Any) -> None:
    """Atomically writes `result.to_json()` plus `extra` keys to `path` as JSON."""
    payload = dict(result.to_json(), **extra)
    write_json(path, payload)


def write_study(folder: str, stem: str, table: str, rows: Any, plot: Callable[[str], None],
                figure: str | None = None) -> None:
    """Prints a study's markdown `table` and writes FOLDER/STEM.md, FOLDER/STEM.json (its `rows`) and the PNG that
    `plot(path)` draws (FOLDER/`figure`, default STEM.png)."""
    figure = figure or f"{stem}.png"
    print(table)
    write_text(os.path.join(folder, f"{stem}.md"), table + "\n")
    write_json(os.path.join(folder, f"{stem}.json"), rows)
    plot(os.path.join(folder, figure))
    print(f"wrote {folder}/{stem}.md, {stem}.json, {figure}")
