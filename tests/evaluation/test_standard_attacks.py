"""`standard_attacks`: FGSM and PGD from a dataset's threat model, or from a bare radius."""

import pytest

from kerobust.attacks import FGSM, PGD
from kerobust.data.threat_model import ThreatModel
from kerobust.errors import KerobustError
from kerobust.evaluation import standard_attacks

CIFAR_LIKE = ThreatModel(eps=8 / 255, train_steps=10, train_step_size=2 / 255, eval_steps=(10, 20),
                         eval_step_size=2 / 255, l2_eps=0.5)


def test_a_threat_model_gives_fgsm_and_one_pgd_per_evaluation_step_count():
    fgsm, pgd10, pgd20 = standard_attacks(CIFAR_LIKE)
    assert isinstance(fgsm, FGSM) and fgsm.eps == pytest.approx(8 / 255)
    assert [pgd10.steps, pgd20.steps] == [10, 20] and pgd10.step_size == pytest.approx(2 / 255)
    l2 = standard_attacks(CIFAR_LIKE, norm="l2")
    assert {a.norm for a in l2} == {"l2"} and l2[0].eps == 0.5


def test_a_bare_radius_gives_fgsm_and_pgd_20_at_madrys_step():
    fgsm, pgd = standard_attacks(0.2)
    assert isinstance(fgsm, FGSM) and isinstance(pgd, PGD)
    assert fgsm.eps == pgd.eps == 0.2 and pgd.steps == 20 and pgd.norm == "linf"
    assert pgd.describe() == PGD(eps=0.2, steps=20).describe()
    assert [a.steps for a in standard_attacks(0.5, norm="l2", steps=[5, 50])[1:]] == [5, 50]


def test_what_is_neither_a_radius_nor_a_threat_model_is_named():
    with pytest.raises(KerobustError, match="radius .* or a dataset's threat model .* got str"):
        standard_attacks("0.2")
    with pytest.raises(KerobustError, match="two radii"):
        standard_attacks(0.2, eps=0.1)
