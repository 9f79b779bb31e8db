"""The `certify` serving signature's computation: is the predicted class certified within a radius?

Per image the predicted class p = argmax z, and a sound lower bound on min_{c != p} z_p - z_c over the ball of the
radius around the image (in the [0, 1] box) from every deterministic certifier that applies to the model, the best
of them kept (each is sound, so their maximum is): IBP (Gowal et al. 2018), CROWN-IBP (Zhang et al. 2020) and the
global Lipschitz bound (Tsuzuku et al. 2018), which also gives a certified radius: min_c (z_p - z_c) / (L ||w_p -
w_c||) in l2, divided by sqrt(d) for l-inf. The prediction is certified where the bound is positive. A negative radius counts as 0; an image outside [0, 1]
gets only the Lipschitz bound (the box methods assume the box). Everything is
`keras.ops` on the model's layers with the Lipschitz constant fixed at export, so it traces into a SavedModel that
serves without kerobust.
"""

import math

from keras import ops

from kerobust.attacks.lp_geometry import l2_radius_factor
from kerobust.bounds.output_margin import pair_distances
from kerobust.errors import KerobustError


class ServingCertifier:
    """`certify(x, radius)` -> {"class", "certified", "margin_lower_bound"[, "certified_radius"]} for `model`.

    Args:
        model: the classifier (logits of a Dense head, or logits).
        threat_norm: "linf" or "l2": the ball of the radius.

    Raises:
        KerobustError: when no certifier applies, with each one's reason.
    """

    def __init__(self, model, threat_norm):
        from kerobust.bounds import BoundEvaluator
        from kerobust.bounds.crown import CrownBounds
        from kerobust.bounds.interval import IntervalBounds

        self.model, self.threat_norm = model, threat_norm
        self.methods, reasons = {}, []
        for name, build in (("ibp", lambda: IntervalBounds(model, threat_norm, jit=False)),
                            ("crown-ibp", lambda: CrownBounds(model, threat_norm, intermediate="ibp", jit=False))):
            try:
                self.methods[name] = build()
            except KerobustError as error:
                reasons.append(f"{name}: {error}")
        self.evaluator = None
        try:
            self.evaluator = BoundEvaluator(model, "sound", jit=False)
        except KerobustError as error:
            reasons.append(f"lipschitz: {error}")
        if not self.methods and self.evaluator is None:
            raise KerobustError(f"no deterministic certifier applies to model {model.name!r}: " + "; ".join(reasons))
        self.dimension = math.prod(model.input_shape[1:])

    @property
    def method_names(self):
        return list(self.methods) + (["lipschitz"] if self.evaluator is not None else [])

    def _lipschitz(self, x, predicted, radius):
        """(margin lower bounds at `radius`, certified radii), both for the predicted class."""
        evaluator = self.evaluator
        features = evaluator.probe(x, training=False)
        head = evaluator.head.layer
        logits = features if head is None else ops.matmul(features, head.kernel) + (head.bias if head.use_bias else 0.0)
        distances = pair_distances(None if head is None else head.kernel, predicted, logits)
        onehot = ops.one_hot(predicted, logits.shape[-1], dtype=logits.dtype)
        gaps = ops.sum(logits * onehot, axis=-1, keepdims=True) - logits
        to_l2 = l2_radius_factor(self.threat_norm, self.dimension)
        spreads = float(evaluator.lipschitz) * distances
        margins = ops.min(ops.where(onehot > 0, float("inf"), gaps - radius * to_l2 * spreads), axis=-1)
        ratios = ops.where(spreads > 0, gaps / ops.where(spreads > 0, spreads, 1.0), float("inf"))
        radii = ops.min(ops.where(onehot > 0, float("inf"), ratios), axis=-1) / to_l2
        return margins, radii

    def __call__(self, x, radius):
        radius = ops.maximum(ops.where(radius == radius, radius, 0.0), 0.0)  # a negative or NaN radius: 0
        logits = self.model(x, training=False)
        predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
        onehot = ops.one_hot(predicted, logits.shape[-1], dtype=logits.dtype)
        # The box methods intersect the ball with [0, 1]: for an image outside the box they bound nothing.
        inside = ops.all(ops.logical_and(x >= 0.0, x <= 1.0), axis=tuple(range(1, len(x.shape))))
        found = [ops.where(inside, ops.min(ops.where(onehot > 0, float("inf"), bounds.margin_bounds(x, predicted, radius)),
                                           axis=-1), -float("inf"))
                 for bounds in self.methods.values()]
        outputs = {"class": predicted}
        if self.evaluator is not None:
            margins, radii = self._lipschitz(x, predicted, radius)
            found.append(margins)
            outputs["certified_radius"] = radii
        best = found[0]
        for margins in found[1:]:
            best = ops.maximum(best, margins)
        outputs.update(certified=best > 0, margin_lower_bound=best)
        return outputs
