"""The statistics behind the studies' error bars and checked findings: the binomial standard error, the Wilson
interval and the two-proportion z-test, on known cases."""

import pytest

from apps import significance as sig


@pytest.mark.smoke
def test_the_standard_error_is_binomial():
    assert sig.standard_error(30, 360) == pytest.approx(2.415, abs=1e-3)  # the width study's "2.4 points"
    assert sig.standard_error(50, 100) == pytest.approx(5.0)
    assert sig.standard_error(100, 360) == 0.0


@pytest.mark.smoke
def test_the_wilson_interval_on_known_cases():
    assert sig.wilson_interval(50, 100) == pytest.approx((40.38, 59.62), abs=0.01)
    low, high = sig.wilson_interval(100, 360)  # not empty at 100 %, and never above it
    assert high == pytest.approx(100) and low == pytest.approx(100 * 360 / (360 + 1.96 ** 2), abs=1e-3)
    assert sig.wilson_interval(0, 360)[0] == 0
    below, above = sig.error_bars([50.0, 100.0], [100, 360])
    assert below == pytest.approx([9.62, 1.06], abs=0.01) and above == pytest.approx([9.62, 0.0], abs=0.01)


@pytest.mark.smoke
def test_the_two_proportion_z_test_on_known_cases():
    # 96.7 % against 97.8 % on 360 points each (348 and 352 correct): not significant at 5 %.
    z, p = sig.two_proportion_test(100 * 352 / 360, 100 * 348 / 360, 360, 360)
    assert z == pytest.approx(0.907, abs=1e-3) and p == pytest.approx(0.364, abs=1e-3)
    assert sig.verdict(100 * 352 / 360, 100 * 348 / 360, 360, 360) == sig.NOISE
    # 50 % against 60 % on 360 points each: significant (z = -2.70, p = 0.007), in the direction of the higher one.
    z, p = sig.two_proportion_test(50, 60, 360, 360)
    assert z == pytest.approx(-2.697, abs=1e-3) and p == pytest.approx(0.0070, abs=1e-4)
    assert sig.verdict(60, 50, 360, 360) == sig.HOLDS and sig.verdict(50, 60, 360, 360) == sig.OPPOSITE
    assert sig.two_proportion_test(100, 100, 360, 360) == (0.0, 1.0)
    assert sig.z_and_p(0.907, 0.364) == "z = 0.91, p = 0.36" and sig.z_and_p(3.7, 2e-4) == "z = 3.70, p < 0.001"


@pytest.mark.smoke
def test_a_claim_over_several_widths_needs_a_majority():
    assert sig.majority([sig.HOLDS] * 3 + [sig.NOISE] * 2) == sig.HOLDS
    assert sig.majority([sig.HOLDS] * 2 + [sig.NOISE] * 3) == sig.NOISE
    assert sig.majority([sig.OPPOSITE] * 3 + [sig.HOLDS] * 2) == sig.OPPOSITE
    assert sig.majority([]) == sig.NOISE
