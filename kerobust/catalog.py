"""The names a user can type, in one framework-free place: `kerobust fit` checks them before TensorFlow or JAX is
imported, so a misspelt name is answered at once. The modules that build what a name means import their list from
here (an architecture registered under a name missing here is refused at import)."""

from __future__ import annotations

from collections.abc import Collection

from kerobust.errors import unknown_name

ARCHITECTURES = ("basicnet", "certcnn", "cifar_nin", "lenet5", "lenet5_lrn1", "lenet5_lrn2", "lenet5_lrn3",
                 "noisenet20", "regnetx_200mf", "resnet18", "resnet20", "senet18", "vgg11", "wrn")
TFDS_DATASETS = ("cifar10", "cifar100", "svhn", "mnist", "fashion_mnist")
DATASETS = ("digits",) + TFDS_DATASETS + ("npz:PATH",)
TRAINING_METHODS = ("natural", "fgsm", "pgd", "trades", "alp", "mart", "free", "pni", "mat-rand", "mat-max", "ibp",
                    "crown-ibp", "sabr", "mtl-ibp", "lipschitz-margin")
# Methods that train against a bound (Gowal et al. 2018, Zhang et al. 2020, Mueller et al. 2023, De Palma et al. 2024,
# Tsuzuku et al. 2018).
CERTIFIED = ("ibp", "crown-ibp", "sabr", "mtl-ibp", "lipschitz-margin")
THREAT_NORMS = ("linf", "l2")
OPTIMIZERS = ("adamw", "adam", "sgd")
LR_SCHEDULES = ("constant", "multistep", "cosine")
MIXES = ("batch", "example")
JIT_SETTINGS = ("auto", "on", "off")
MODEL_NORMS = ("none", "bn", "convnorm", "bn+convnorm")
NOISE_GRANULARITIES = ("layerwise", "channelwise", "elementwise")
NORM_DECAY_NORMS = ("l1", "linf")
SVC_OPERATORS = ("circular", "layer")
STRATEGIES = ("mirrored", "multi-worker", "data-parallel")
ATTACK_STEPS = {"fgsm": 1, "pgd": 20, "apgd-ce": 100, "apgd-dlr": 100, "apgd-t": 100, "fab": 100, "fab-t": 100,
                "square": 5000}  # attack: its default step count
ATTACK_SUITES = ("autoattack", "autoattack-plus", "autoattack-rand")
CERTIFY_METHODS = ("ibp", "crown-ibp", "crown", "lipschitz", "smoothing")
BOUND_MODES = ("thesis", "sound")


def check_name(kind: str, name: str, valid: Collection[str]) -> str:
    """`name` when it is one of `valid`, else the one-line error naming the nearest valid name."""
    if name not in valid:
        raise unknown_name(kind, name, valid)
    return name


def check_dataset_name(name: str) -> None:
    """A one-line error unless `name` is a dataset kerobust loads (`npz:PATH` included)."""
    if not (name in DATASETS or str(name).startswith("npz:")):
        raise unknown_name("dataset", name, DATASETS)
