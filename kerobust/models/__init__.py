"""Architectures by name: `build_model("wrn", input_shape, num_classes, mean, std, k=5)`."""

from kerobust.models import basicnet, certifiable_cnn, lenet, nin, regnet, resnet, senet, vgg, wide_resnet  # noqa: F401  (registration)
from kerobust.models.registry import architecture_options, architectures, build_model, register

__all__ = ["architecture_options", "architectures", "build_model", "register"]
