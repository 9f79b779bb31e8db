import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.models import build_model

pytestmark = pytest.mark.smoke


@pytest.mark.slow_on_jax
def test_wrn_16_8_has_the_published_parameter_count():
    # Zagoruyko & Komodakis 2016, Table 4: WRN-16-8 has 11.0M parameters on CIFAR-10.
    model = build_model("wrn", (32, 32, 3), 10, (0.5,) * 3, (0.25,) * 3, depth=16, k=8, norm="bn")
    assert abs(model.count_params() / 1e6 - 11.0) < 0.05


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("norm", ["none", "bn"])
def test_wrn_runs_on_8x8_and_32x32(norm):
    for shape in ((8, 8, 1), (32, 32, 3)):
        model = build_model("wrn", shape, 10, (0.5,) * shape[-1], (0.3,) * shape[-1], k=1, norm=norm)
        out = np.asarray(model(np.random.rand(2, *shape).astype("float32")))
        assert out.shape == (2, 10) and np.all(np.isfinite(out))


def test_input_normalisation_is_the_first_layer():
    model = build_model("wrn", (8, 8, 1), 10, (0.25,), (0.5,), k=1)
    layer = model.layers[1]
    assert layer.name == "input_normalization"
    np.testing.assert_allclose(np.asarray(layer(np.full((1, 8, 8, 1), 0.75, "float32"))), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "options,message",
    [({"depth": 15}, "6n \\+ 4"), ({"k": 0}, "k >= 1"), ({"norm": "convnrm"}, "unknown norm"),
     ({"width": 3}, "does not take")],
)
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(KerobustError, match=message):
        build_model("wrn", (8, 8, 1), 10, (0.5,), (0.3,), **options)


def test_unknown_architecture_suggests_the_nearest():
    with pytest.raises(KerobustError, match="Did you mean 'wrn'"):
        build_model("wrm", (8, 8, 1), 10, (0.5,), (0.3,))
