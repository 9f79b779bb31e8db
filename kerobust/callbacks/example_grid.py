"""A picture of adversarial examples for the dashboard: clean images, their adversarial versions and the
perturbations (amplified), with true and predicted labels, rendered by matplotlib into PNG bytes."""

from __future__ import annotations

import io

import numpy as np

from kerobust.types import Array, ArrayLike


def example_grid_png(clean: ArrayLike, adversarial: ArrayLike, labels: Array, clean_predictions: Array,
                     adversarial_predictions: Array, title: str = "") -> bytes:
    """PNG bytes of a 3-row grid: clean (true / predicted label), adversarial (predicted label, red when wrong) and
    the perturbation adversarial - clean, scaled so its largest entry spans half the grey range (the factor is in the
    row title). Images are (N, H, W, C) in [0, 1] with C = 1 or 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean, adversarial = np.asarray(clean, "float32"), np.asarray(adversarial, "float32")
    delta = adversarial - clean
    largest = float(np.max(np.abs(delta))) if delta.size else 0.0
    gain = 0.5 / largest if largest > 0 else 1.0
    rows = [("clean", clean), ("adversarial", adversarial), (f"perturbation x{gain:.3g}", 0.5 + gain * delta)]
    count = len(clean)
    figure, axes = plt.subplots(3, count, figsize=(1.1 * count + 0.6, 3.9), squeeze=False)
    try:
        for r, (name, images) in enumerate(rows):
            for i in range(count):
                axis = axes[r][i]
                image = np.clip(images[i], 0.0, 1.0)
                axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
                axis.set_xticks([])
                axis.set_yticks([])
                if r == 0:
                    axis.set_title(f"y={labels[i]} p={clean_predictions[i]}", fontsize=7)
                elif r == 1:
                    wrong = adversarial_predictions[i] != labels[i]
                    axis.set_title(f"p={adversarial_predictions[i]}", fontsize=7, color="red" if wrong else "black")
                if i == 0:
                    axis.set_ylabel(name, fontsize=7)
        if title:
            figure.suptitle(title, fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
    finally:
        plt.close(figure)
