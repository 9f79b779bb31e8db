"""Training on a mix of natural and adversarial examples with a given adversarial share.

References: Goodfellow et al. 2015 and Kurakin et al. 2017 ("Adversarial Machine Learning at Scale", sec. 3: a
weighted mix of clean and adversarial examples in each batch); Bigaud, Papereux & Rolland (2021), "Adversarial
training for image classification" (the BIPARO report), section 3.3 (95 % adversarial, 5 % natural, by randomly
introducing natural batches to save computation; after Wu et al. 2021).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keras import ops

from kerobust import backend
from kerobust.attacks.lp_geometry import per_sample
from kerobust.training.method import TrainingMethod
from kerobust.types import LossFn, Seed, Tensor

if TYPE_CHECKING:
    from kerobust.backend.oracle import Oracle

_MIX_SALT = 130363  # moves the coin's seed away from the inner method's random starts


@dataclasses.dataclass(frozen=True)
class MixedBatches(TrainingMethod):
    """Wraps an attack-based method: a share `adversarial_share` of the training is adversarial, the rest natural.

    `mix="batch"` (the BIPARO report): each batch is adversarial with probability `adversarial_share`, else natural,
    and a natural batch skips the attack (saving its cost). `mix="example"`: each example of every batch is adversarial
    with that probability (the attack runs on the whole batch).
    """

    # Required: None is only the default that a field after `seed` needs.
    inner: TrainingMethod = None  # type: ignore[assignment]
    adversarial_share: float = 0.95
    mix: str = "batch"

    @property
    def name(self) -> str:  # type: ignore[override]  # the base's class attribute, derived here
        return self.inner.name

    @property
    def loss_fn(self) -> LossFn:
        return self.inner.loss_fn

    def training_batch(self, oracle: Oracle, x: Tensor, y: Tensor, sample_weight: Tensor | None,
                       seed: Seed, step: int | Tensor = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        share = float(self.adversarial_share)
        coin_seed = seed + _MIX_SALT
        if self.mix == "batch":
            adversarial = backend.uniform((), coin_seed) < share
            x_train = ops.cond(adversarial,
                               lambda: self.inner.training_batch(oracle, x, y, sample_weight, seed, step)[0], lambda: x)
            return x_train, y, sample_weight
        chosen = backend.uniform((ops.shape(x)[0],), coin_seed) < share
        x_adv = self.inner.training_batch(oracle, x, y, sample_weight, seed, step)[0]
        return ops.where(per_sample(chosen, x), x_adv, x), y, sample_weight

    def describe(self) -> str:
        unit = "batches" if self.mix == "batch" else "examples"
        return f"{self.inner.describe()}, {100 * self.adversarial_share:g} % adversarial {unit}"
