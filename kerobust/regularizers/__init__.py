"""Regularisers of layer norms: norm decay (Algorithm 1 of Liang & Huang (2021), "Large Norms of CNN Layers Do Not
Hurt Adversarial Robustness", through kerobust's training step) and the plain l1 / l-inf operator-norm penalty for any
Keras model (its eq. (5))."""

from kerobust.regularizers.norm_decay import NormDecay
from kerobust.regularizers.operator_norm_penalty import OperatorNormPenalty, add_norm_penalty, penalty_for

__all__ = ["NormDecay", "OperatorNormPenalty", "add_norm_penalty", "penalty_for"]
