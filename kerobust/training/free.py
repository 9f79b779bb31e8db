"""Free adversarial training: m replays per minibatch, one backward pass for weights and perturbation."""

from __future__ import annotations

import dataclasses

from keras import ops

from kerobust.attacks import lp_geometry as geo
from kerobust.errors import KerobustError
from kerobust.training.method import TrainingMethod
from kerobust.types import Tensor


@dataclasses.dataclass(frozen=True)
class FreeTraining(TrainingMethod):
    """Free adversarial training (Shafahi et al. 2019, "Adversarial Training for Free!", Algorithm 1).

    Each minibatch is replayed `replays` times. Each replay trains on `clip(x + delta, 0, 1)`, and its single backward
    pass gives both the weight gradients (one optimizer step) and the input gradient that updates
    `delta <- project(delta + step * sign(grad))` (step = eps in the paper). `delta` persists across minibatches and
    epochs in the model's `perturbation` variable; a smaller last batch uses and updates its first rows. Callers divide
    the epoch count by `replays` to keep the total work of natural training (the CLI does).

    Without `box`, the input is `clip(x + delta, 0, 1)`, as in Shafahi et al.'s code: where x + delta leaves the box
    the clip's gradient is 0 and sign(0) = 0 leaves that delta where it is, so on images with a saturated background
    (digits) a third of the perturbation stops moving. `box=True` follows Wong, Rice & Kolter 2020 ("Fast is better
    than free", their free training code) instead: the input is `x + delta` unclipped, and after each update delta is
    projected so that x + delta lies in the box. Only the first replay of a minibatch, which starts from the delta the
    previous minibatch left, can then see pixels up to eps outside [0, 1].

    Two options from the literature on single-step training, both off by default: a replay step smaller than eps
    (`step_size`), and an eps warm-up: over the first `warmup_steps` optimizer steps the radius and the step grow
    linearly from 0 to their full values (read from the optimizer's iteration count, so a resumed run continues the
    ramp; Gowal et al. 2018 ramp eps this way for interval bound propagation, Shafahi et al. section 4 note that the
    radius can be ramped).

    Differs on purpose from the ConvNorm reference, which re-zeroes `delta` every minibatch and keeps all epochs.
    """

    eps: float = 8 / 255
    replays: int = 4
    norm: str = "linf"
    step_size: float | None = None  # default eps
    warmup_steps: int = 0
    box: bool = False
    clip_min: float = 0.0
    clip_max: float = 1.0

    kind = "replay"
    name = "free"

    def __post_init__(self) -> None:
        geo.check_norm(self.norm)
        if int(self.replays) < 1:
            raise KerobustError(f"free training needs replays >= 1, got {self.replays!r}.")
        if not self.eps >= 0:
            raise KerobustError(f"eps must be >= 0, got {self.eps!r}.")
        if self.step_size is not None and not self.step_size > 0:
            raise KerobustError(f"the replay step must be > 0, got {self.step_size!r}.")
        if int(self.warmup_steps) < 0:
            raise KerobustError(f"eps warm-up steps must be >= 0, got {self.warmup_steps!r}.")

    @property
    def step(self) -> float:
        return self.eps if self.step_size is None else self.step_size

    def radius_scale(self, iterations: int | Tensor) -> float | Tensor:
        """The share of eps and of the step in force at optimizer step `iterations` (0-based): 1 without warm-up."""
        if not self.warmup_steps:
            return 1.0
        done = ops.cast(ops.convert_to_tensor(iterations), "float32") + 1.0
        return ops.minimum(1.0, done / float(self.warmup_steps))

    def perturbed_input(self, x: Tensor, delta: Tensor) -> Tensor:
        if self.box:
            return x + delta
        return geo.clip_to_box(x + delta, self.clip_min, self.clip_max)

    def update_perturbation(self, delta: Tensor, grad: Tensor, scale: float | Tensor = 1.0,
                            x: Tensor | None = None) -> Tensor:
        ascent = geo.steepest_ascent(grad, self.step * scale, self.norm)
        delta = geo.project(delta + ascent, self.eps * scale, self.norm)
        if self.box:
            delta = ops.clip(delta, self.clip_min - x, self.clip_max - x)  # type: ignore[operator]  # box: x given
        return ops.stop_gradient(delta)

    def describe(self) -> str:
        options = "" if self.step == self.eps else f", step {self.step:g}"
        if self.warmup_steps:
            options += f", eps warm-up over {self.warmup_steps} steps"
        if self.box:
            options += ", x + delta kept in the box"
        return f"free training (m={self.replays}, {self.norm} eps={self.eps:g}{options})"
