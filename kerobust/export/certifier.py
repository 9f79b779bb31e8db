"""The `certify` serving signature's computation: is the predicted class certified within a radius?

Per image the predicted class p = argmax z, and a sound lower bound on min_{c != p} z_p - z_c over the ball of the
radius around the image (in the [0, 1] box) from every deterministic certifier that applies to the model, the best
of them kept (each is sound, so their maximum is): IBP (Gowal et al. 2018), CROWN-IBP (Zhang et al. 2020) and the
global Lipschitz bound (Tsuzuku et al. 2018), which also gives a certified radius: min_c (z_p - z_c) / (L ||w_p -
w_c||) in l2, divided by sqrt(d) for l-inf. The prediction is certified where the bound is positive. A negative radius
counts as 0; an image outside [0, 1] gets only the Lipschitz bound (the box methods assume the box). Everything is
`keras.ops` on the model's layers with the Lipschitz constant fixed at export, so it traces into a SavedModel that
serves without kerobust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras import ops

from kerobust.errors import KerobustError
from kerobust.evaluation.certifiers import LipschitzCertifier, applicable_certifiers, best_of

if TYPE_CHECKING:
    import keras


class ServingCertifier:
    """`certify(x, radius)` -> {"class", "certified", "margin_lower_bound"[, "certified_radius"]} for `model`.

    Args:
        model: the classifier (logits of a Dense head, or logits).
        threat_norm: "linf" or "l2": the ball of the radius.

    Raises:
        KerobustError: when no certifier applies, with each one's reason.
    """

    def __init__(self, model: keras.Model, threat_norm: str) -> None:
        self.model, self.threat_norm = model, threat_norm
        self.certifiers, reasons = applicable_certifiers(model, ("ibp", "crown-ibp", "lipschitz"), threat_norm,
                                                         jit=False)
        if not self.certifiers:
            why = "; ".join(f"{method}: {reason}" for method, reason in reasons.items())
            raise KerobustError(f"no deterministic certifier applies to model {model.name!r}: {why}")

    @property
    def method_names(self) -> list[str]:
        return [certifier.name for certifier in self.certifiers]

    def __call__(self, x, radius):
        radius = ops.maximum(ops.where(radius == radius, radius, 0.0), 0.0)  # a negative or NaN radius: 0
        predicted = ops.cast(ops.argmax(self.model(x, training=False), axis=-1), "int32")
        outputs = {"class": predicted}
        found = []
        for certifier in self.certifiers:
            found.append(certifier.margin_tensor(x, predicted, radius))
            if isinstance(certifier, LipschitzCertifier):
                outputs["certified_radius"] = certifier.radius_tensor(x, predicted)
        best = best_of(found)
        outputs.update(certified=best > 0, margin_lower_bound=best)
        return outputs


__all__ = ["ServingCertifier"]
