"""A run fails when its clean accuracy is not above chance (a one-sided binomial test, checked against the binomial
sum written out); a finished run is recognised from its metrics.json."""

import json
import math

import numpy as np
import pytest

from kerobust.experiment.outcome import FAILURE_P_VALUE, chance_failure, finished_metrics

pytestmark = pytest.mark.smoke


def _upper_tail(correct, points, chance):
    return sum(math.comb(points, k) * chance**k * (1 - chance) ** (points - k) for k in range(correct, points + 1))


def test_the_threshold_is_the_binomial_tail_at_the_commonest_class_share():
    labels = np.array([0] * 30 + [1] * 10 + [2] * 10)  # the commonest class: 60 %
    threshold = next(c for c in range(51) if _upper_tail(c, 50, 0.6) < FAILURE_P_VALUE)
    assert chance_failure((threshold - 1) / 50, labels, "pgd") is not None
    assert chance_failure(threshold / 50, labels, "pgd") is None
    assert "certified training collapsed" in chance_failure(0.6, labels, "ibp")
    assert "60.00 %" in chance_failure(0.6, labels, "natural")


def test_finished_means_evaluated_and_exported_or_failed(tmp_path):
    path = tmp_path / "metrics.json"
    assert finished_metrics(str(path)) is None
    for payload, finished in (({"export": {"status": "pending"}}, False), ({"export": {"status": "failed"}}, False),
                              ({"export": {"status": "ok"}}, True), ({"status": "failed"}, True), ([1], False)):
        path.write_text(json.dumps(payload))
        assert (finished_metrics(str(path)) is not None) == finished, payload
    path.write_text("{trunc")
    assert finished_metrics(str(path)) is None
