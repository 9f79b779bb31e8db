import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.models import architectures, build_model
from tests.keras_citizenship import check_citizenship

EXPECTED = (
    "basicnet", "certcnn", "cifar_nin", "lenet5", "lenet5_lrn1", "lenet5_lrn2", "lenet5_lrn3", "noisenet20",
    "regnetx_200mf", "resnet18", "resnet20", "senet18", "vgg11", "wrn",
)


def _build(arch, shape=(8, 8, 1), **options):
    channels = shape[-1]
    return build_model(arch, shape, 10, (0.5,) * channels, (0.3,) * channels, **options)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_the_registry_holds_the_papers_architectures():
    assert architectures() == EXPECTED


@pytest.mark.parametrize(
    "arch,shape,count",
    [
        ("resnet18", (32, 32, 3), 11_173_962),  # kuangliu/pytorch-cifar ResNet18
        ("resnet20", (32, 32, 3), 269_722),  # He et al. 2016: 0.27M with option A shortcuts
        ("vgg11", (32, 32, 3), 9_231_114 - 2_752),  # pytorch-cifar VGG11 less its 2752 conv biases (BN follows)
        ("lenet5", (28, 28, 1), 431_080),  # Caffe's MNIST LeNet
        ("cifar_nin", (32, 32, 3), 966_986),  # Lin et al. 2014: about 0.97M
        ("certcnn", (28, 28, 1), 16 * 17 + 32 * (16 * 16 + 1) + 14 * 14 * 32 * 100 + 100 + 1010),  # same padding
    ],
)
def test_published_parameter_counts(arch, shape, count):
    assert _trainable(_build(arch, shape)) == count


def _resnet18_parameters(width, channels=3, classes=10):
    """Trainable parameters of the CIFAR ResNet-18 with stage widths w, 2w, 4w, 8w, counted by hand: 3x3 convs
    without bias, batch norm gamma and beta after each, 1x1 projections where a stage starts, the dense head."""
    total, previous = 9 * channels * width + 2 * width, width
    for stage in range(4):
        c = width * 2**stage
        for block in range(2):
            inputs = previous if block == 0 else c
            total += 9 * inputs * c + 9 * c * c + 4 * c + ((inputs * c + 2 * c) if block == 0 and stage else 0)
        previous = c
    return total + 8 * width * classes + classes


@pytest.mark.parametrize("width", [64, 80, 16])
def test_resnet18_width_scales_every_stage(width):
    """Width 64 is the published 11,173,962; the wider network of Bigaud, Papereux & Rolland (2021), "Adversarial
    training for image classification" (width 80) has 17.5M, its digits stand-in 16."""
    assert _trainable(_build("resnet18", (32, 32, 3), width=width)) == _resnet18_parameters(width)
    assert _resnet18_parameters(64) == 11_173_962 and _resnet18_parameters(80) == 17_454_170


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("arch", EXPECTED)
def test_every_architecture_runs_on_digits_and_cifar_sized_inputs(arch):
    for shape in ((8, 8, 1), (32, 32, 3)):
        out = np.asarray(_build(arch, shape)(np.random.default_rng(0).uniform(size=(2, *shape)).astype("float32")))
        assert out.shape == (2, 10) and np.all(np.isfinite(out))


def test_lrn_variants_put_lrn_where_peck_2017_says():
    names = {arch: [layer.name for layer in _build(arch).layers if layer.name.startswith(("pool", "lrn"))]
             for arch in EXPECTED if arch.startswith("lenet")}
    assert names == {
        "lenet5": ["pool1", "pool2"], "lenet5_lrn1": ["pool1", "lrn1", "pool2"],
        "lenet5_lrn2": ["pool1", "pool2", "lrn2"], "lenet5_lrn3": ["pool1", "lrn1", "pool2", "lrn2"],
    }


@pytest.mark.parametrize("norm", ["none", "bn", "convnorm", "bn+convnorm"])
def test_wrn_norms_use_the_right_layers(norm):
    kinds = {type(layer).__name__ for layer in _build("wrn", norm=norm).layers}
    assert ("ConvNorm" in kinds) == ("convnorm" in norm)
    assert ("BatchNormalization" in kinds) == (norm == "bn")
    convnorms = [layer for layer in _build("wrn", norm=norm).layers if type(layer).__name__ == "ConvNorm"]
    assert all(layer.batch_norm == (norm == "bn+convnorm") for layer in convnorms)


def test_noisenet_layers_draw_independent_noise():
    seeds = [layer.seed for layer in _build("noisenet20").layers if hasattr(layer, "noise_scale")]
    assert len(seeds) == 20 and len(set(seeds)) == 20  # 19 convolutions and the dense layer


def test_input_noise_is_the_first_layer_and_random_at_inference():
    model = _build("basicnet", input_noise=0.1)
    assert model.layers[1].name == "input_noise"
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(x)))


@pytest.mark.parametrize(
    "arch,options,message",
    [
        ("regnetx_200mf", {"norm": "convnorm"}, "unknown norm"),
        ("resnet18", {}, "at least 8x8"),
        ("resnet18", {"width": 0}, "width must be a positive integer"),
        ("noisenet20", {"noise": "pixelwise"}, "unknown noise granularity"),
        ("lenet5", {"norm": "bn"}, "does not take"),
        ("cifar_nin", {"width": 0}, "positive integer"),
        ("certcnn", {"width": 1.5}, "positive integer"),
    ],
)
def test_bad_options_are_clear_errors(arch, options, message):
    shape = (4, 4, 1) if arch == "resnet18" else (8, 8, 1)
    with pytest.raises(KerobustError, match=message):
        _build(arch, shape, **options)


# Small members of each family keep the citizenship checks quick; the big ones share their building blocks.
CITIZENS = [
    ("wrn", {"norm": "none"}), ("wrn", {"norm": "bn"}), ("wrn", {"norm": "convnorm"}), ("wrn", {"norm": "bn+convnorm"}),
    ("resnet20", {}), ("resnet20", {"norm": "bn+convnorm"}), ("noisenet20", {}), ("basicnet", {"input_noise": 0.05}),
    ("lenet5_lrn3", {}), ("cifar_nin", {"width": 16, "dropout": 0.0}), ("vgg11", {}), ("senet18", {}),
    ("regnetx_200mf", {}), ("resnet18", {"width": 8}), ("certcnn", {}),
]


@pytest.mark.parametrize("arch,options", CITIZENS, ids=[f"{a}-{'-'.join(map(str, o.values()))}" for a, o in CITIZENS])
def test_keras_citizenship(arch, options, digits, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = _build(arch, **options)
    x, y = digits.x_train[:32], digits.y_train[:32]
    check_citizenship(model, x, tmp_path, y=y)
