"""The Keras 3 backend, on TensorFlow (KERAS_BACKEND is set here, before keras is imported)."""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"

from backends.keras.trainer import create_trainer  # noqa: E402

__all__ = ["create_trainer"]
