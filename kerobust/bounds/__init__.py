"""Lower bounds on the smallest adversarial l2 perturbation (Peck 2017, "Robustness of Classifiers to Adversarial
Perturbations", MSc thesis, Ghent University): per-layer rules in the thesis's form and in a sound (Lipschitz) form,
composed through a Keras model by `BoundEvaluator`; and local lower bounds on the worst-case margin over an eps-ball
by interval bound propagation (`IntervalBounds`, Gowal et al. 2018) and CROWN / CROWN-IBP (`CrownBounds`, Zhang et
al. 2018, 2020)."""

from kerobust.bounds.certified_accuracy import CertifiedAccuracy
from kerobust.bounds.linear.crown import CrownBounds
from kerobust.bounds.lipschitz.evaluator import MODES, BoundEvaluator
from kerobust.bounds.linear.interval import IntervalBounds
from kerobust.bounds.lipschitz.output_margin import binary_margin_bound, margin_bound

__all__ = ["MODES", "BoundEvaluator", "CertifiedAccuracy", "CrownBounds", "IntervalBounds", "binary_margin_bound",
           "margin_bound"]
