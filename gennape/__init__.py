"""gennape: predict how accurate a neural network will be after training, without training it."""

__version__ = "0.1.0"
