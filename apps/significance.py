"""How far an accuracy measured on n test points can be trusted, for the studies' plots and checked findings.

* `standard_error`: the binomial standard error sqrt(p (1 - p) / n) of an accuracy, in points of %.
* `wilson_interval`: its 95 % Wilson score interval (never outside 0-100 %, not empty at 0 or 100 %): the error bars of
  the studies' accuracy plots.
* `two_proportion_test`: the two-sided two-proportion z-test (pooled variance) of two accuracies; the studies' cells
  keep accuracies, not per-point predictions, so McNemar's paired test cannot be run on them, and the z-test treats
  the two accuracies as independent samples.
* `verdict`: whether a claim "a is above b" holds, does not hold (significantly the other way) or is within noise.
"""

import math

ALPHA = 0.05  # the test's level
Z95 = 1.959963984540054  # the two-sided 95 % quantile of the standard normal
HOLDS = "holds"
OPPOSITE = "does not hold"
NOISE = "within noise (not significant)"
TEST = "two-sided two-proportion z-test (pooled variance) at the 5 % level"


def _share(percent):
    return min(max(percent / 100, 0.0), 1.0)


def standard_error(percent, n):
    """The binomial standard error of an accuracy of `percent` % on `n` points, in points of %."""
    p = _share(percent)
    return 100 * math.sqrt(p * (1 - p) / n)


def wilson_interval(percent, n, z=Z95):
    """`(low, high)` in %: the Wilson score interval (95 % by default) of an accuracy of `percent` % on `n` points."""
    p = _share(percent)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * max(centre - half, 0.0), 100 * min(centre + half, 1.0)


def error_bars(percents, counts):
    """`[[below...], [above...]]` of each accuracy's 95 % Wilson interval: matplotlib's asymmetric `yerr`."""
    intervals = [wilson_interval(p, n) for p, n in zip(percents, counts)]
    return [[max(p - low, 0.0) for p, (low, _) in zip(percents, intervals)],
            [max(high - p, 0.0) for p, (_, high) in zip(percents, intervals)]]


def two_proportion_test(a, b, n_a, n_b):
    """`(z, p_value)` of the two-sided two-proportion z-test with pooled variance of accuracies `a` % on `n_a` points
    and `b` % on `n_b` points; z > 0 when a is higher."""
    pa, pb = _share(a), _share(b)
    pooled = (pa * n_a + pb * n_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:  # both 0 % or both 100 %: no difference to test
        return 0.0, 1.0
    z = (pa - pb) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))


def verdict(a, b, n_a, n_b, alpha=ALPHA):
    """Whether the claim "accuracy a is above b" `HOLDS` (a significantly higher), is the `OPPOSITE` (b
    significantly higher) or lies within `NOISE`, by `two_proportion_test` at level `alpha`."""
    z, p = two_proportion_test(a, b, n_a, n_b)
    return NOISE if p >= alpha else HOLDS if z > 0 else OPPOSITE


def majority(verdicts):
    """A claim checked at several settings (widths): `HOLDS` when it holds at more than half of them, `OPPOSITE` when
    the opposite does, `NOISE` otherwise."""
    verdicts = list(verdicts)
    for answer in (HOLDS, OPPOSITE):
        if verdicts.count(answer) > len(verdicts) / 2:
            return answer
    return NOISE


def z_and_p(z, p):
    """"z = 0.91, p = 0.36" (p below 0.001 written as such)."""
    return f"z = {z:.2f}, " + ("p < 0.001" if p < 0.001 else f"p = {p:.2g}")
