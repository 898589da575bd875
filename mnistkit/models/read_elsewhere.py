"""A model whose file was read in a worker process, kept in the server as its network of arrays.

A family that ``needs_worker`` (the Keras ones and the scikit-learn MLP: Keras and JAX, or
scikit-learn with pandas and pyarrow, take seconds and hundreds of MB to import) is never loaded
by the server. A worker reads the file, with every check (Keras's ``safe_mode``, skops's trusted
types), and sends back a *reading*: plain JSON made by ``reading(model)``, the network as
``mnistkit.network.to_payload`` gives it, the model's description and parameter count. The
server wraps that in a ``NetworkClassifier``: the same protocol as every family (``predict``,
``predict_proba``, ``to_network``, ``describe``, ``count_parameters``; ``family`` and
``display_name`` of the family it came from), answered by the one NumPy forward pass. It cannot
train further; its file is the one the worker read, kept by ``TrainedModel`` and handed back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistkit.models.base import DigitClassifier, ModelFileError

BATCH_IMAGES = 256  # images per forward pass: a CNN's float64 feature maps stay near 50 MB


def reading(model: DigitClassifier) -> dict[str, Any]:
    """What a worker sends back for a model it trained or read: plain JSON, no framework."""
    from mnistkit.network import to_payload

    return {
        "network": to_payload(model.to_network()),
        "description": model.describe(),
        "parameters": int(model.count_parameters()),
    }


class NetworkClassifier(DigitClassifier):
    """A trained model of another family, read elsewhere, kept as a ``Network`` of arrays."""

    def __init__(
        self,
        network=None,
        description: str = "",
        parameters: int = 0,
        family: str = "",
        display_name: str = "",
        file_suffix: str = "",
    ):
        self.network = network
        self.description = description
        self.parameters = parameters
        self.family = family
        self.display_name = display_name
        self.file_suffix = file_suffix

    @classmethod
    def from_reading(cls, found: Any, family: type[DigitClassifier], name: str):
        """The model a worker's ``reading`` describes, of ``family``; ``name`` is the file's."""
        from mnistkit.network import NetworkError, from_payload

        try:
            network = from_payload(found["network"])
            description, parameters = str(found["description"]), int(found["parameters"])
        except (KeyError, TypeError, ValueError, NetworkError) as error:
            raise ModelFileError(f"{name} was read, but its network came back damaged.") from error
        return cls(
            network=network,
            description=description,
            parameters=parameters,
            family=family.family,
            display_name=family.display_name,
            file_suffix=family.file_suffix,
        )

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        raise ValueError(
            f"This {self.display_name} was read from a file as arrays and cannot train further; "
            "train a new one on the Train page."
        )

    def fit(self, X, y):
        return self.partial_fit(X, y)

    def predict_proba(self, X) -> np.ndarray:
        self._check_trained()
        images = self._images(X, dtype=None)
        batches = [
            self.network.predict_proba(images[start : start + BATCH_IMAGES])
            for start in range(0, len(images), BATCH_IMAGES)
        ]
        return np.concatenate(batches) if batches else np.empty((0, 10))

    def to_network(self):
        return self.network

    def describe(self) -> str:
        return self.description or self.display_name

    def count_parameters(self) -> int:
        return self.parameters
