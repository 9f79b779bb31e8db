"""Kernel density plots of per-layer norms, several models on one figure (the layout of Figure 2 of
Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness")."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from kerobust.figures import png_figure
from kerobust.norms.model_report import LayerNorms

NORM_TITLES = {"l1": "l1 norm", "linf": "l-inf norm", "l2": "l2 norm"}


def plot_norm_distributions(rows_by_model: Mapping[str, Sequence[LayerNorms]], path: str | os.PathLike[str]) -> None:
    """Writes a PNG with one panel per norm: a Gaussian kernel density (scipy) of log10 of the layers' norms, one
    curve per model. Models with fewer than two values for a norm are drawn as tick marks."""
    from scipy.stats import gaussian_kde

    with png_figure(path, 1, 3, figsize=(12, 3.6)) as (figure, axes):
        for axis, (key, title) in zip(axes, NORM_TITLES.items()):
            for m, (model, rows) in enumerate(rows_by_model.items()):
                values = np.log10([getattr(r, key) for r in rows if getattr(r, key)])
                colour = f"C{m % 10}"
                if len(values) > 1 and np.ptp(values) > 0:
                    grid = np.linspace(values.min() - 0.5, values.max() + 0.5, 200)
                    axis.plot(grid, gaussian_kde(values)(grid), color=colour, label=model)
                axis.plot(values, np.zeros_like(values), "|", color=colour, markersize=12,
                          label=None if len(values) > 1 and np.ptp(values) > 0 else model)
            axis.set_title(title)
            axis.set_xlabel("log10(norm)")
            axis.grid(alpha=0.3)
        axes[0].set_ylabel("density over layers")
        axes[-1].legend(fontsize=7)
