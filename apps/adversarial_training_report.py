"""Markdown in the table layout of Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification"
(the BIPARO report; rows: natural examples and the three attacks; a column per network), the report's CIFAR-10
numbers beside, JSON, and the PNG of each table or figure."""

import os

from apps.adversarial_training_cells import ROW_TITLES, ROWS


def _profile_line(profile, cells):
    points = cells[0]["points"]
    return (f"{profile.data}, {points} test points (one point = {100 / points:.2f} %); attacks of "
            f"{profile.eval_steps} steps at ℓ∞ {profile.eps:.4g} and ℓ2 {profile.l2_eps:.4g}; accuracies in %.")


DATASETS = {"digits": "digits", "cifar10": "CIFAR-10"}
PAPER = "paper (CIFAR-10)"  # the BIPARO report's numbers: CIFAR-10, whatever the profile


def this_run(profile):
    """The label of this run's numbers beside the report's: "digits (this run)"."""
    return f"{DATASETS.get(profile.data, profile.data)} (this run)"


def _score_rows(columns, cells, corner=""):
    """The report's rows, and for randomised columns the same attacks with EOT ("-" where a column has none)."""
    from kerobust.evaluation.report import markdown

    eot = sorted({key for cell in cells for key in cell["scores"] if key != "plain"})
    rows = [[ROW_TITLES[row]] + [f"{cell['scores']['plain'][row]:.2f}" for cell in cells] for row in ROWS]
    for variant in eot:  # the attacks again, each gradient averaged over noise draws (clean accuracy is one draw)
        rows += [[f"{ROW_TITLES[row]} ({variant.upper()})"]
                 + [f"{cell['scores'][variant][row]:.2f}" if variant in cell["scores"] else "-" for cell in cells]
                 for row in ROWS[1:]]
    return markdown([corner] + [heading for heading, _, _ in columns], rows)


def _paper_rows(columns):
    from kerobust.evaluation.report import markdown

    return markdown([PAPER] + [heading for heading, _, _ in columns],
                    [[ROW_TITLES[row]] + [f"{numbers[i]:.2f}" for _, _, numbers in columns] for i, row in
                     enumerate(ROWS)])


def _cost_line(columns, cells):
    return "Networks: " + "; ".join(
        f"{heading}: {cell['model']}, {cell['params'] / 1e6:.2f}M parameters, epochs: {cell['epochs_run']}"
        + (f" (best {cell['best_epoch']})" if cell.get("best_epoch") else "") + f", {cell['train_seconds']:.0f} s"
        for (heading, _, _), cell in zip(columns, cells)) + "."


def table_markdown(title, columns, cells, profile):
    ours = this_run(profile)
    lines = [f"# Bigaud et al. (2021), {title}", "", _profile_line(profile, cells), "", "## kerobust", "",
             f"{ours}: test accuracy (%) on {cells[0]['points']} {profile.data} test points.", "",
             _score_rows(columns, cells, ours), "", _cost_line(columns, cells)]
    if all(numbers for _, _, numbers in columns):
        scale = "" if profile.data == "cifar10" else f", for scale only: not the dataset of {ours} above"
        lines += ["", "## The BIPARO report (CIFAR-10)", "",
                  f"{PAPER}: the report's test accuracy (%) on CIFAR-10 (ℓ∞ 8/255){scale}.", "", _paper_rows(columns)]
    return "\n".join(lines)


def attack_labels(profile):
    """{row: what the row measures, with its attack and radius}, for the plots."""
    return {"natural": "natural examples\n(clean, no attack)",
            "linf_pgd": f"ℓ∞ PGD-{profile.eval_steps}\neps {profile.eps:.4g}",
            "l2_pgd": f"ℓ2 PGD-{profile.eval_steps}\neps {profile.l2_eps:.4g}",
            "linf_fgsm": f"ℓ∞ FGSM\neps {profile.eps:.4g}"}


ERROR_BARS = "error bars: 95 % Wilson score intervals"


def plot_table(path, columns, cells, profile, title=""):
    import numpy as np

    from apps.significance import error_bars
    from kerobust.figures import png_figure

    with png_figure(path, figsize=(7.5, 4.4)) as (figure, axis):
        width = 0.8 / len(cells)
        for i, ((heading, _, _), cell) in enumerate(zip(columns, cells)):
            values = [cell["scores"]["plain"][row] for row in ROWS]
            axis.bar(np.arange(len(ROWS)) + i * width, values, width, label=heading,
                     yerr=error_bars(values, [cell["points"]] * len(values)), capsize=2,
                     error_kw={"elinewidth": 0.8})
        labels = attack_labels(profile)
        axis.set_xticks(np.arange(len(ROWS)) + width * (len(cells) - 1) / 2, [labels[r] for r in ROWS], fontsize=8)
        axis.set_ylabel("top-1 test accuracy (%)")
        axis.set_ylim(0, 100)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8)
        eot = "; attacks without EOT (with EOT: the markdown)" if any(c.get("randomised") for c in cells) else ""
        axis.set_title(f"{title.split(':')[0]}, {this_run(profile)}: {cells[0]['points']} test points{eot}\n"
                       f"({ERROR_BARS})", fontsize=9)


def figure1_markdown(title, columns, cells, profile):
    from kerobust.evaluation.report import markdown

    rows = [[heading.removeprefix("train eps "), *(f"{cell['scores']['plain'][row]:.2f}" for row in ROWS)]
            for (heading, _, _), cell in zip(columns, cells)]
    best = max(zip(columns, cells), key=lambda pair: pair[1]["scores"]["plain"]["linf_pgd"])
    return "\n".join([f"# Bigaud et al. (2021), {title}", "", _profile_line(profile, cells), "",
                      markdown(["training eps"] + [ROW_TITLES[r] for r in ROWS], rows), "",
                      f"Best ℓ∞ PGD accuracy at attack eps {profile.eps:.4g}: {best[0][0]} "
                      f"({best[1]['scores']['plain']['linf_pgd']:.2f} %). Training eps 0 is natural training."])


def plot_figure1(path, columns, cells, profile):
    from kerobust.figures import png_figure

    radii = [profile.eps if cell["settings"]["cell"]["eps"] is None else cell["settings"]["cell"]["eps"]
             for cell in cells]
    from apps.significance import error_bars

    labels = {"linf_pgd": f"under ℓ∞ PGD-{profile.eval_steps} at eps {profile.eps:.4g} (robust)",
              "natural": "natural examples (clean, no attack)"}
    with png_figure(path, figsize=(6, 4.2)) as (figure, axis):
        for row in ("linf_pgd", "natural"):
            values = [cell["scores"]["plain"][row] for cell in cells]
            axis.errorbar(radii, values, yerr=error_bars(values, [cell["points"] for cell in cells]), marker="o",
                          capsize=2, label=labels[row])
        axis.axvline(profile.eps, color="grey", linestyle=":", label=f"attack eps {profile.eps:.4g}")
        axis.set_xlabel("ℓ∞ PGD training eps ([0, 1] pixels; 0: natural training)")
        axis.set_ylabel("top-1 test accuracy (%)")
        axis.set_ylim(0, 101)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        axis.set_title(f"BasicNet, {this_run(profile)}: {cells[0]['points']} test points ({ERROR_BARS})",
                       fontsize=9)


def curves_markdown(title, columns, cells, profile, milestones):
    from kerobust.evaluation.report import markdown

    lines = [f"# Bigaud et al. (2021), {title}", "", _profile_line(profile, cells), "",
             f"Per epoch: training accuracy on the (adversarial) training batches, and clean and ℓ∞ "
             f"PGD-{profile.eval_steps} accuracy on the test split, by the fit's validation attack (its own random "
             "starts, so its last value differs from the tables' score of the same network by a few points); "
             f"learning rate x0.1 after epochs {', '.join(map(str, milestones))}.", ""]
    for (heading, _, _), cell in zip(columns, cells):
        curves = cell["curves"]
        robust = curves["val_robust_accuracy"]
        best = max(range(len(robust)), key=robust.__getitem__)
        lines += [f"## {heading}", "", markdown(
            ["epoch", "train (adversarial batches)", "test clean", "test ℓ∞ PGD"],
            [[str(e + 1), f"{curves['accuracy'][e]:.2f}", f"{curves['val_clean_accuracy'][e]:.2f}",
              f"{robust[e]:.2f}"] for e in range(len(robust))]), "",
            f"Best test robust accuracy {robust[best]:.2f} % after epoch {best + 1}; after the last epoch "
            f"{robust[-1]:.2f} % ({robust[-1] - robust[best]:+.2f} points), while training accuracy went from "
            f"{curves['accuracy'][best]:.2f} % to {curves['accuracy'][-1]:.2f} %.", ""]
    return "\n".join(lines)


def plot_curves(path, columns, cells, milestones, steps, profile):
    from kerobust.figures import png_figure

    with png_figure(path, 1, len(cells), figsize=(5.5 * len(cells), 4.2), squeeze=False) as (figure, axes):
        for axis, (heading, _, _), cell in zip(axes[0], columns, cells):
            curves = cell["curves"]
            split = "validation" if cell.get("curves_on") == "validation" else "test"
            epochs = range(1, len(curves["val_robust_accuracy"]) + 1)
            axis.plot(epochs, curves["accuracy"], label="training batches (adversarial)")
            axis.plot(epochs, curves["val_robust_accuracy"],
                      label=f"{split}, robust: under ℓ∞ PGD-{steps} at eps {profile.eps:.4g}")
            axis.plot(epochs, curves["val_clean_accuracy"], label=f"{split}, clean (no attack)", alpha=0.6)
            for i, epoch in enumerate(milestones):
                axis.axvline(epoch + 0.5, color="grey", linestyle=":", label="lr x0.1" if i == 0 else None)
            axis.set_title(f"{heading} ({cell['model']}), {this_run(profile)}: accuracy per epoch", fontsize=10)
            axis.set_xlabel("epoch")
            axis.set_ylabel("top-1 accuracy (%)")
            axis.set_ylim(0, 101)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8, loc="lower right")


def write_item(folder, item, title, columns, cells, profile):
    """Writes FOLDER/ITEM.md, ITEM.json and ITEM.png for one table or figure."""
    from kerobust.evaluation.report import write_study

    if item == "figure1":
        table, plot = figure1_markdown(title, columns, cells, profile), \
            lambda path: plot_figure1(path, columns, cells, profile)
    elif item in ("figure2", "figure3"):
        deep = columns[0][1].deep
        milestones = profile.deep_milestones if deep else profile.basic_milestones
        table, plot = curves_markdown(title, columns, cells, profile, milestones), \
            lambda path: plot_curves(path, columns, cells, milestones, profile.eval_steps, profile)
    else:
        table, plot = table_markdown(title, columns, cells, profile), \
            lambda path: plot_table(path, columns, cells, profile, title)
    rows = [dict(cell, column=heading) for (heading, _, _), cell in zip(columns, cells)]
    os.makedirs(folder, exist_ok=True)
    write_study(folder, item, table, rows, plot)
