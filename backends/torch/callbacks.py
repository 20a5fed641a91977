"""PyTorch has no callback API: its per-step hook for a benchmarked policy is the
``LRScheduler`` of ``backends/torch/scheduler.py`` (:class:`PolicyScheduler`), re-exported
here. The module exists so that both backends keep the same module names (the Keras
backend's ``callbacks.py`` holds its ``model.fit`` callback)."""

from backends.torch.scheduler import PolicyScheduler

__all__ = ["PolicyScheduler"]
