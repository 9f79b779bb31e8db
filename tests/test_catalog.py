"""The catalog's names are exactly the names each registry builds."""

import pytest

from kerobust import catalog

pytestmark = pytest.mark.smoke


def test_every_catalogued_name_has_a_builder_and_every_builder_a_name():
    from kerobust.data.tfds_source import SOURCES
    from kerobust.models import architectures
    from kerobust.training import build_training_method

    assert set(architectures()) == set(catalog.ARCHITECTURES)
    assert set(SOURCES) == set(catalog.TFDS_DATASETS)
    for name in catalog.TRAINING_METHODS:
        build_training_method(name, eps=0.1, norm="l2" if name == "lipschitz-margin" else "linf", l2_eps=0.5)
    assert set(catalog.CERTIFIED) <= set(catalog.TRAINING_METHODS)
    from kerobust.attacks.suite import SUITES

    assert set(SUITES) == set(catalog.ATTACK_SUITES)


def test_a_builder_under_a_name_outside_the_catalog_is_refused():
    from kerobust.models.registry import register

    with pytest.raises(ValueError, match="add it there"):
        register("my_net")
