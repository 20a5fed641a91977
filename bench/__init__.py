"""Reproducibility benchmark harness for learning-rate policies.

The framework-free core: specs, schedules, data readers, run records and the CLI.
Nothing in this package imports torch, torchvision, tensorflow or keras (a test
enforces it); framework code lives in ``backends/<name>/``.
"""

__version__ = "0.1.0"
