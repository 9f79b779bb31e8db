"""LocalResponseNormalization: the gradient-norm bound of docs/bounds.md section 2.6 (sound) and Peck's (2017)
Theorem 5.9 (thesis). IBP and CROWN have no rule for it."""

from kerobust.bounds.lipschitz.local_response_norm import lrn_lipschitz, thesis_lrn
from kerobust.bounds.rules.base import LayerRule
from kerobust.layers import LocalResponseNormalization


class LocalResponseNormalizationRule(LayerRule):
    types = (LocalResponseNormalization,)
    label = "LocalResponseNormalization"

    def lipschitz(self, layer, kernel=None):
        return lrn_lipschitz(layer)

    def thesis_step(self, layer):
        return layer, layer.input

    def thesis_bound(self, kappa, payload, tensor):
        return thesis_lrn(kappa, tensor, payload)
