"""Targeted restarts: one run of an attack per likely target class, keeping per point the first that succeeds.

Reference: Gowal et al. 2019, "An Alternative Surrogate Loss for PGD-based Adversarial Testing" (MultiTargeted);
Croce & Hein 2020, section 4 (APGD-T over the top-9 classes).
"""

from keras import ops

from kerobust.attacks.lp_geometry import per_sample


def first_success_over_targets(oracle, x, y, targets, run):
    """Runs `run(pairs, rank)` against each of the `targets` classes with the highest clean logits (other than the
    label), where `pairs` holds `[y, t]` rows, and returns per point the first run's result that changes the
    decision (the first run's result where none does)."""
    y = ops.cast(y, "int32")
    clean = ops.cast(oracle.logits(x), "float32")
    classes = clean.shape[-1]
    ranked = ops.argsort(-(clean - 1e9 * ops.one_hot(y, classes)), axis=-1)
    best, found = None, None
    for rank in range(min(int(targets), classes - 1)):
        pairs = ops.stack([y, ops.cast(ranked[:, rank], "int32")], axis=1)
        x_target = run(pairs, rank)
        fooled = ops.argmax(oracle.logits(x_target), axis=-1) != y
        if best is None:
            best, found = x_target, fooled
            continue
        best = ops.where(per_sample(ops.logical_and(fooled, ops.logical_not(found)), x), x_target, best)
        found = ops.logical_or(found, fooled)
    return best
