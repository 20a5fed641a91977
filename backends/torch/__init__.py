"""The PyTorch backend: networks, SGD in both momentum forms, and the trainer."""

from backends.torch.trainer import create_trainer

__all__ = ["create_trainer"]
