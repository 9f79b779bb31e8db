import keras
import pytest


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Layer tests draw weights and data at random: fix the seed so every run checks the same case."""
    keras.utils.set_random_seed(0)
