"""Robustness tables in the layout of seed 000 Table 1, and the `metrics.json` file."""

import json

from kerobust.atomic_files import write_text


def _cell(value):
    return f"{100 * value:.2f}"


def format_table(results):
    """Markdown table: rows Precision@1 / Precision@5 by attack, one column per model (percent).

    Args:
        results: mapping of column title (e.g. a model name) to `RobustnessResult`; all share the same attacks.
    """
    titles = list(results)
    first = results[titles[0]]
    header = ["Top-N", "Attack", "eps", "steps"] + titles
    rows = []
    for k, label in ((1, "Precision@1"), (5, "Precision@5")):
        key = f"top{k}"
        rows.append([label, "Clean", "-", "-"] + [_cell(getattr(r, f"clean_{key}")) for r in results.values()])
        for i, attack in enumerate(first.attacks):
            name = attack.name if attack.norm == "linf" else f"{attack.name}-{attack.norm}"
            cells = [_cell(getattr(r.attacks[i], key)) for r in results.values()]
            rows.append(["", name, f"{attack.eps:.4g}", str(attack.steps)] + cells)
    widths = [max(len(str(row[c])) for row in [header] + rows) for c in range(len(header))]
    line = lambda row: "| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def write_metrics(path, result, **extra):
    """Atomically writes `result.to_json()` plus `extra` keys to `path` as JSON."""
    payload = dict(result.to_json(), **extra)
    write_text(path, json.dumps(payload, indent=2) + "\n")
