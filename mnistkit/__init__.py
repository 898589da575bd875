"""mnistkit: learn how neural networks read handwritten digits."""

import os

# Keras reads its backend once, when it is first imported; mnistkit runs it on JAX unless the
# user chose another backend. Nothing here imports Keras or JAX.
os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"
