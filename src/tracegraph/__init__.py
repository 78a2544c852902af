"""tracegraph: a probabilistic-programming core for PyTorch."""

__version__ = "0.1.0"
