"""Lower bounds on the smallest adversarial l2 perturbation through Lipschitz constants: Peck's (2017) per-layer
rules ("thesis" mode, "Robustness of Classifiers to Adversarial Perturbations", Algorithm 5.1) and the sound mode
(`evaluator.BoundEvaluator`), the per-layer constants and their composition, batch-norm folding, and the differentiable
estimate of Lipschitz-margin training (`trainable_lipschitz`). Each layer type's rule is in `kerobust.bounds.rules`."""
