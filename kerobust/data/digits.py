"""scikit-learn's bundled 8x8 handwritten digits: the offline dataset that works everywhere."""

from __future__ import annotations

from sklearn.datasets import load_digits as _load_sklearn_digits
from sklearn.model_selection import train_test_split

from kerobust.data.dataset import Dataset, as_labels, as_pixels, channel_stats
from kerobust.data.splits import SPLIT_SEED, hold_out_validation
from kerobust.data.threat_model import ThreatModel

TEST_SHARE = 0.2

# l-inf 0.2 (train PGD-10 step 0.05, evaluate PGD-20 step 0.025). The l2 radius 0.5 keeps the l2/l-inf ratio of
# the CIFAR-10 pair (0.5 vs 8/255) after scaling by sqrt(d): 0.2 * sqrt(64) * 0.5 / (8/255 * sqrt(3072)) = 0.46.
DIGITS_THREAT = ThreatModel(
    eps=0.2, train_steps=10, train_step_size=0.05, eval_steps=(20,), eval_step_size=0.025, l2_eps=0.5
)


def load_digits() -> Dataset:
    """1797 grey 8x8 images with 17 intensity levels scaled to [0, 1]; 20 % test (stratified, fixed seed),
    10 % of the rest held out for validation."""
    bunch = _load_sklearn_digits()
    x = as_pixels(bunch.images / 16.0, "digits")
    y = as_labels(bunch.target, "digits")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=TEST_SHARE, random_state=SPLIT_SEED, stratify=y
    )
    x_train, y_train, x_val, y_val = hold_out_validation(x_rest, y_rest)
    mean, std = channel_stats(x_train)
    return Dataset(
        name="digits", x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
        num_classes=10, mean=mean, std=std, augmentation="none", threat_model=DIGITS_THREAT,
    )
