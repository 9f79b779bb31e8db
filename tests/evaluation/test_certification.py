"""`certify`: the result schema, certified accuracy from the margin bounds, and the Lipschitz method's margins
against the exact worst case of a linear model."""

import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.evaluation.certification import (TIGHTEST_ORDER, SmoothingSettings, certify, lipschitz_margins,
                                               tightest_margins)

pytestmark = pytest.mark.smoke


def test_lipschitz_margins_of_a_linear_model_are_exact(linear_digits, digits):
    """Nothing below the head: L = 1, and min_c m_c - eps ||w_y - w_c|| is the exact worst margin over the l2 ball."""
    model, w, b = linear_digits
    x, y = digits.x_test[:20], digits.y_test[:20]
    logits = x.reshape(20, -1).astype("float64") @ w + b
    exact = [min(logits[i, y[i]] - logits[i, c] - 0.3 * np.linalg.norm(w[:, y[i]] - w[:, c])
                 for c in range(10) if c != y[i]) for i in range(20)]
    np.testing.assert_allclose(lipschitz_margins(model, x, y, 0.3), exact, rtol=1e-4, atol=1e-4)


@pytest.mark.slow_on_jax
def test_results_follow_the_schema_and_certify_where_the_bound_is_positive(natural_digits_net, digits):
    x, y = digits.x_test[:24], digits.y_test[:24]
    results = certify(natural_digits_net, x, y, ["ibp", "crown-ibp", "crown", "lipschitz", "smoothing"], "l2",
                      [0.0, 0.05], SmoothingSettings(sigma=0.1, samples=50, selection_samples=10))
    assert [(r["method"], r["eps"]) for r in results] == [
        (m, e) for m in ("ibp", "crown-ibp", "crown", "lipschitz", "smoothing") for e in (0.0, 0.05)]
    clean = np.mean(np.argmax(natural_digits_net.predict(x, verbose=0), axis=1) == y)
    for result in results:
        assert ({"method", "threat_norm", "eps", "certified_accuracy", "clean_accuracy", "margin_lower_bound"}
                <= set(result))
        assert result["threat_norm"] == "l2" and len(result["margin_lower_bound"]) == 24
        assert result["clean_accuracy"] == pytest.approx(clean)
        assert result["certified_accuracy"] == pytest.approx(np.mean(np.array(result["margin_lower_bound"]) > 0))
        if result["method"] != "smoothing":
            assert result["certified_accuracy"] <= clean
            if result["eps"] == 0:  # the exact margin: certified exactly where correct
                assert result["certified_accuracy"] == pytest.approx(clean)
    smoothing = results[-1]
    assert smoothing["probabilistic"] and len(smoothing["certified_radius"]) == 24
    crown, ibp = (np.array(r["margin_lower_bound"]) for r in (results[5], results[1]))
    assert crown.mean() > ibp.mean()


@pytest.mark.slow_on_jax
def test_the_tightest_verifier_certifies_the_union_of_every_bound(natural_digits_net, digits):
    """Ground truth: each bound run on every point. The tightest verifier, which runs each bound after the first only on
    the points the cheaper ones left, certifies exactly the points some bound certifies, credits each to the first
    bound in the order that certifies it, and never reports a margin below the first bound's."""
    x, y = digits.x_test[:24], digits.y_test[:24]
    radii = [0.01, 0.05]  # IBP and CROWN-IBP certify nothing on this naturally trained network; at 0.01 Lipschitz
    # certifies some points and CROWN more, at 0.05 CROWN alone (one call, each certifier built once for both radii)
    results = certify(natural_digits_net, x, y, list(TIGHTEST_ORDER), "l2", radii)
    for eps, (margins, decided_by) in zip(radii, tightest_margins(natural_digits_net, x, y, "l2", radii)):
        every = {r["method"]: np.array(r["margin_lower_bound"]) for r in results if r["eps"] == eps}
        union = np.any([every[m] > 0 for m in TIGHTEST_ORDER], axis=0)
        if eps == 0.01:
            assert 0 < np.sum(every["lipschitz"] > 0) < np.sum(union) < len(x)  # CROWN adds, some stay uncertified
            assert {"lipschitz", "crown", None} <= set(decided_by)
        np.testing.assert_array_equal(margins > 0, union)
        assert np.all(margins >= every["ibp"] - 1e-6)
        assert decided_by == [next((m for m in TIGHTEST_ORDER if every[m][i] > 0), None) for i in range(len(x))]


@pytest.mark.parametrize("methods, norm, eps, message", [
    (["ibp", "exact"], "linf", [0.1], "unknown certification method 'exact'"),
    (["smoothing"], "linf", [0.1], "smoothing certifies l2 radii"),
    (["ibp"], "l1", [0.1], "unknown threat norm 'l1'"),
    (["ibp"], "linf", [-0.1], "eps must be finite and >= 0"),
])
def test_bad_requests_are_refused_before_any_bound(natural_digits_net, digits, methods, norm, eps, message):
    with pytest.raises(KerobustError, match=message):
        certify(natural_digits_net, digits.x_test[:2], digits.y_test[:2], methods, norm, eps)
