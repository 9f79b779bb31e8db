"""Base class of kerobust's attacks: a frozen description plus a backend-neutral `perturb` rule."""

from __future__ import annotations

import warnings
import dataclasses
from typing import ClassVar
import weakref

import keras
import numpy as np
from keras import ops

from kerobust import backend
import kerobust.attacks.losses as losses
from kerobust.attacks.lp_geometry import check_norm
from kerobust.backend.oracle import Oracle
from kerobust.catalog import THREAT_NORMS
from kerobust.errors import KerobustError, unknown_name
from kerobust.layers.noise_injection import advance_noise_states
from kerobust.types import ArrayLike, LossFn, Seed, Tensor

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def seed_pair(seed: Seed) -> np.ndarray:
    """The int32 seed pair of an attack call: `(seed, 0)` for a number, the pair itself for a pair."""
    return np.array([seed, 0], dtype="int32") if np.ndim(seed) == 0 else np.asarray(seed, "int32")


@dataclasses.dataclass(frozen=True)
class Attack:
    """An evasion attack within an `norm` ball of radius `eps`, in pixel units of [0, 1] inputs.

    Subclasses implement `perturb(oracle, x, y, seed) -> x_adv` with a `kerobust.backend.oracle.Oracle` (input
    gradient of the attack loss, the model's outputs, per-sample losses). `perturb` is pure `keras.ops`, so the same
    rule runs inside compiled attacks and inside training steps on every backend. Calling an attack on a model runs
    it in inference mode.

    `eot_samples > 1` averages every input gradient over that many noise draws of a randomised model (expectation over
    transformation, Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security", sec. 4.1);
    every gradient sees a fresh draw either way (APGD reuses the gradient of its best iterate when a checkpoint
    restarts a point from it).
    """

    eps: float
    norm: str = "linf"
    loss: str = "ce"
    clip_min: float | None = 0.0
    clip_max: float | None = 1.0
    eot_samples: int = 1

    name = "attack"
    norms: ClassVar[tuple[str, ...]] = THREAT_NORMS  # the threat norms this attack supports


    def __post_init__(self) -> None:
        check_norm(self.norm, self.norms)
        if not np.isfinite(self.eps) or self.eps < 0:
            raise KerobustError(f"eps must be a finite number >= 0, got {self.eps!r}.")
        if self.loss not in losses.LOSSES:
            raise unknown_name("attack loss", self.loss, losses.LOSSES)
        if int(self.eot_samples) < 1:
            raise KerobustError(f"eot_samples must be >= 1, got {self.eot_samples!r}.")

    @property
    def steps(self) -> int:
        return 1

    def _renamed(self, old: str, new: str, value: object) -> None:
        """Takes `value` given under the deprecated keyword `old` as field `new` (kept for one release)."""
        if value is not None:
            warnings.warn(f"{type(self).__name__}({old}=...) is deprecated; use {new}=...", DeprecationWarning,
                          stacklevel=4)
            object.__setattr__(self, new, value)  # a frozen dataclass sets its fields this way

    @property
    def alpha(self) -> float:
        """The step size (a single step of eps unless a subclass says otherwise)."""
        return self.eps

    def loss_fn(self, from_logits: bool = True) -> LossFn:
        """The summed attack loss for a model whose outputs are logits (or probabilities)."""
        return losses.LOSSES[self.loss](from_logits=from_logits)

    def perturb(self, oracle: Oracle, x: Tensor, y: Tensor, seed: Tensor) -> Tensor:
        raise NotImplementedError

    def gradient(self, oracle: Oracle, x: Tensor, y: Tensor, step: int | Tensor = 0) -> Tensor:
        """The input gradient at iteration `step` (counted across restarts and targets, so that each sees its own
        draws), averaged over `eot_samples` fresh noise draws (EOT)."""
        return self.logits_and_gradient(oracle, x, y, step, with_logits=False)[1]

    def logits_and_gradient(self, oracle: Oracle, x: Tensor, y: Tensor, step: int | Tensor = 0,
                            with_logits: bool = True) -> tuple[Tensor | None, Tensor]:
        """`(outputs, gradient)` at iteration `step`: the gradient as `gradient` gives it, and the outputs of its
        first noise draw from the same forward pass (None unless `with_logits`)."""
        samples = int(self.eot_samples)
        first = step * samples + 1
        if with_logits:
            outputs, total = oracle.logits_and_gradient(x, y, draw=first)
        else:
            outputs, total = None, oracle.gradient(x, y, draw=first)
        for i in range(1, samples):
            total = total + oracle.gradient(x, y, draw=first + i)
        return outputs, (total if samples == 1 else total / samples)

    def __call__(self, model: keras.Model, x: ArrayLike, y: ArrayLike, seed: Seed = 0) -> Tensor:
        """Adversarial examples for one batch `(x, y)` against `model` (inference mode)."""
        per_model = _COMPILED.setdefault(model, {})
        if self not in per_model:
            loss_fn = self.loss_fn(from_logits=losses.outputs_are_logits(model))
            per_model[self] = backend.compile_attack(model, self.perturb, loss_fn)
        x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
        y = ops.convert_to_tensor(np.asarray(y))
        x_adv = per_model[self](x, y, ops.convert_to_tensor(seed_pair(seed)))
        advance_noise_states(model)  # randomised models: the next call draws noise the attack did not see
        return x_adv

    def describe(self) -> str:
        """A short label such as `PGD-20 linf eps=0.2`, with ` x9 targets`, ` x5 restarts`, ` EOT-10` where they
        apply."""
        steps = f"-{self.steps}" if self.steps > 1 else ""
        label = f"{self.name}{steps} {self.norm} eps={self.eps:g}"
        if getattr(self, "targets", 0):
            label += f" x{self.targets} targets"  # type: ignore[attr-defined]  # a field of the subclasses with targets
        if getattr(self, "restarts", 1) > 1:
            label += f" x{self.restarts} restarts"  # type: ignore[attr-defined]  # a field of the subclasses with restarts
        if self.eot_samples > 1:
            label += f" EOT-{self.eot_samples}"
        return label + (" targeted" if getattr(self, "targeted", False) else "")
