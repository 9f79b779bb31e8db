"""Regularisers of layer norms: norm decay (seed 001 Algorithm 1, through kerobust's training step) and the plain
l1 / l-inf operator-norm penalty for any Keras model (seed 001 eq. (5))."""

from kerobust.regularizers.norm_decay import NormDecay
from kerobust.regularizers.operator_norm_penalty import OperatorNormPenalty, add_norm_penalty, penalty_for

__all__ = ["NormDecay", "OperatorNormPenalty", "add_norm_penalty", "penalty_for"]
