"""Local certification by bound propagation over an eps-ball: interval bounds (IBP, Gowal et al. 2018,
`interval.IntervalBounds`) and backward linear relaxation (CROWN and CROWN-IBP, Zhang et al. 2018 and 2020,
`crown.CrownBounds`), both over `bound_graph.BoundGraph`. Each layer type's rule is in `kerobust.bounds.rules`."""
