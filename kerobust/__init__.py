"""kerobust: train and analyse adversarially robust convolutional networks with Keras 3."""

__version__ = "0.1.0"
