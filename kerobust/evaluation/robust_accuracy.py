"""Clean and adversarial accuracy (top-1 and top-5) of a classifier, batched, with a progress bar."""

import keras
import numpy as np

from kerobust.evaluation.result import AttackAccuracy, RobustnessResult
from kerobust.evaluation.top_k import top_k_correct


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def evaluate_robustness(model, x, y, attacks, batch_size=256, seed=0, progress=True):
    """Evaluates `model` on clean inputs and on every attack's adversarial examples.

    Args:
        model: a Keras classifier on [0, 1] inputs (logits or probabilities).
        x, y: test images and integer labels.
        attacks: `kerobust.attacks.Attack` instances (run in inference mode).
        batch_size: points per batch.
        seed: attack seed; batch `b` uses the seed pair `(seed, b)`, so results are reproducible.
        progress: show a progress bar.

    Returns:
        A `RobustnessResult` with fractions in [0, 1].
    """
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    n = len(x)
    batches = range(0, n, batch_size)
    bar = keras.utils.Progbar(len(batches), unit_name="batch") if progress else None
    clean = np.zeros((2, n), dtype=bool)
    adversarial = np.zeros((len(attacks), 2, n), dtype=bool)
    for index, start in enumerate(batches):
        rows = slice(start, start + batch_size)
        xb, yb = x[rows], y[rows]
        outputs = _predict(model, xb)
        clean[0, rows], clean[1, rows] = top_k_correct(outputs, yb, 1), top_k_correct(outputs, yb, 5)
        for a, attack in enumerate(attacks):
            x_adv = attack(model, xb, yb, seed=np.array([seed, index], dtype="int32"))
            outputs = _predict(model, x_adv)
            adversarial[a, 0, rows], adversarial[a, 1, rows] = top_k_correct(outputs, yb, 1), top_k_correct(outputs, yb, 5)
        if bar is not None:
            done = start + len(xb)
            values = [("clean", clean[0, :done].mean())]
            values += [(attack.describe().split()[0], adversarial[a, 0, :done].mean()) for a, attack in enumerate(attacks)]
            bar.update(index + 1, values=values, finalize=index + 1 == len(batches))
    results = [
        AttackAccuracy(
            name=attack.name, norm=attack.norm, eps=float(attack.eps), steps=attack.steps,
            step_size=float(attack.alpha), top1=float(adversarial[a, 0].mean()),
            top5=float(adversarial[a, 1].mean()),
        )
        for a, attack in enumerate(attacks)
    ]
    return RobustnessResult(num_points=n, clean_top1=float(clean[0].mean()), clean_top5=float(clean[1].mean()), attacks=results)
