"""Validation hold-out: a fixed, stratified share of the training split (seed 000 holds out 10 %)."""

from sklearn.model_selection import train_test_split

VALIDATION_SHARE = 0.1
SPLIT_SEED = 0


def hold_out_validation(x, y, share=VALIDATION_SHARE, seed=SPLIT_SEED):
    """Returns `(x_train, y_train, x_val, y_val)` with `share` of the data, stratified by label, held out."""
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=share, random_state=seed, stratify=y)
    return x_train, y_train, x_val, y_val
