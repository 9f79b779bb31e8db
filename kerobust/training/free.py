"""Free adversarial training: m replays per minibatch, one backward pass for weights and perturbation."""

import dataclasses

from keras import ops

from kerobust.attacks import lp_geometry as geo
from kerobust.errors import KerobustError
from kerobust.training.method import TrainingMethod


@dataclasses.dataclass(frozen=True)
class FreeTraining(TrainingMethod):
    """Free adversarial training (Shafahi et al. 2019, "Adversarial Training for Free!", Algorithm 1).

    Each minibatch is replayed `replays` times. Each replay trains on `clip(x + delta, 0, 1)`, and its single backward
    pass gives both the weight gradients (one optimizer step) and the input gradient that updates
    `delta <- project(delta + eps * sign(grad))` (step = eps). `delta` persists across minibatches and epochs in the
    model's `perturbation` variable; a smaller last batch uses and updates its first rows. Callers divide the epoch
    count by `replays` to keep the total work of natural training (the CLI does).

    Differs on purpose from the ConvNorm reference, which re-zeroes `delta` every minibatch and keeps all epochs.
    """

    eps: float = 8 / 255
    replays: int = 4
    norm: str = "linf"
    clip_min: float = 0.0
    clip_max: float = 1.0

    kind = "replay"
    name = "free"

    def __post_init__(self):
        geo.check_norm(self.norm)
        if int(self.replays) < 1:
            raise KerobustError(f"free training needs replays >= 1, got {self.replays!r}.")
        if not self.eps >= 0:
            raise KerobustError(f"eps must be >= 0, got {self.eps!r}.")

    def perturbed_input(self, x, delta):
        return geo.clip_to_box(x + delta, self.clip_min, self.clip_max)

    def update_perturbation(self, delta, grad):
        return ops.stop_gradient(geo.project(delta + geo.steepest_ascent(grad, self.eps, self.norm), self.eps, self.norm))

    def describe(self):
        return f"free training (m={self.replays}, {self.norm} eps={self.eps:g})"
