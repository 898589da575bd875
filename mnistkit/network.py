"""A trained network as plain NumPy arrays, and the one forward pass over them.

Every model family hands out what it learned as a ``Network`` (``model.to_network()``): a stack
of layers, each a kind, its weights and biases and its activation. Reading a digit is then the
same few lines of NumPy whatever the family, so the server reads, evaluates and teaches without
Keras, and the browser reads the same arrays live (``to_payload``).

The format, in full:

- ``Network.input_scale``: the 0-255 pixels are multiplied by it first (``1 / 255`` or ``1``).
- ``Network.input_shape``: ``(784,)`` for a stack that starts with a dense layer, ``(28, 28, 1)``
  (height, width, channels) for one that starts with a convolution.
- ``Network.layers``, applied in order; each ``Layer`` is one of
  - ``dense``: ``outputs = activation(inputs @ weights + biases)``, ``weights`` of shape
    ``(inputs, outputs)``, ``biases`` of shape ``(outputs,)``;
  - ``conv2d``: a 2-D convolution (cross-correlation, as Keras and every framework compute it)
    with stride 1 and ``padding`` ``"valid"`` or ``"same"``; ``weights`` of shape
    ``(height, width, in_channels, out_channels)``, ``biases`` ``(out_channels,)``;
  - ``maxpool2d``: the largest value of each ``pool`` x ``pool`` window, windows side by side
    (stride ``pool``), leftover rows and columns dropped;
  - ``flatten``: ``(height, width, channels)`` to one row, channels varying fastest.
- activations: ``linear``, ``relu``, ``tanh``, ``sigmoid`` and ``softmax``.
- ``Network.normalise_output``: the last layer's outputs are divided by their sum (ten separate
  sigmoid outputs shown as shares of one). The result is the model's ``predict_proba``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

KINDS = ("dense", "conv2d", "maxpool2d", "flatten")
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")


class NetworkError(ValueError):
    """A stack of layers that cannot be run: a wrong shape, kind or activation."""


@dataclass(frozen=True)
class Layer:
    """One layer of a network: its kind, learned arrays and activation."""

    kind: str  # one of KINDS
    weights: np.ndarray | None = None  # dense: (inputs, outputs); conv2d: (h, w, in, out)
    biases: np.ndarray | None = None  # (outputs,) or (out_channels,)
    activation: str = "linear"  # one of ACTIVATIONS
    padding: str = "valid"  # conv2d: "valid" or "same"
    pool: int = 2  # maxpool2d: the window's side, and its stride

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NetworkError(f"Unknown layer kind {self.kind!r}; the kinds are {KINDS}.")
        if self.activation not in ACTIVATIONS:
            raise NetworkError(f"Unknown activation {self.activation!r}; use one of {ACTIVATIONS}.")
        if self.kind in ("dense", "conv2d"):
            rank = 2 if self.kind == "dense" else 4
            if self.weights is None or np.ndim(self.weights) != rank:
                raise NetworkError(f"A {self.kind} layer needs weights of {rank} dimensions.")
            if self.biases is None or np.shape(self.biases) != (np.shape(self.weights)[-1],):
                raise NetworkError(f"A {self.kind} layer needs one bias per output.")
        if self.padding not in ("valid", "same"):
            raise NetworkError(f"padding must be 'valid' or 'same'; got {self.padding!r}.")

    @property
    def parameters(self) -> int:
        """How many numbers this layer learned."""
        if self.weights is None:
            return 0
        return int(np.size(self.weights) + np.size(self.biases))


@dataclass(frozen=True)
class Network:
    """A trained network as arrays: see the module docstring for the whole format."""

    layers: tuple[Layer, ...]
    input_scale: float = 1.0 / 255.0
    input_shape: tuple[int, ...] = (784,)
    normalise_output: bool = False
    family: str = ""  # the model family that made it, e.g. "sklearn-mlp"
    notes: dict = field(default_factory=dict)  # anything a family wants to say, as plain JSON

    @property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    def predict_proba(self, images) -> np.ndarray:
        """The ten probabilities of each image: ``(n, 10)``, from 0-255 pixels."""
        return self.activations(images)[-1]

    def predict(self, images) -> np.ndarray:
        return np.argmax(self.predict_proba(images), axis=1)

    def activations(self, images) -> list[np.ndarray]:
        """The scaled input, then every layer's output, for a batch of images.

        The last entry is the model's probabilities (normalised if ``normalise_output``).
        """
        values = _inputs(images, self.input_shape) * self.input_scale
        outputs = [values]
        for layer in self.layers:
            values = _apply(layer, values)
            outputs.append(values)
        if self.normalise_output:
            total = np.maximum(values.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
            outputs[-1] = values / total
        return outputs


def forward(network: Network, images) -> np.ndarray:
    """``network.predict_proba(images)``: the one NumPy forward pass."""
    return network.predict_proba(images)


def to_binary(network: Network) -> tuple[dict, bytes]:
    """The network for the browser without text: its layout as plain JSON, its arrays as bytes.

    The layout is ``to_payload``'s, with each array as ``{"shape", "offset", "length"}``
    (counted in float32 values) instead of base64 text; the bytes are every array's float32
    little-endian values, one after another in that order. The browser views them as one
    ``Float32Array`` with no decoding at all (base64 cost it 60 ms a network, and a third more
    to send).
    """
    layout = _layout(network)
    blobs: list[bytes] = []
    offset = 0
    for layer, entry in zip(network.layers, layout["layers"], strict=True):
        if layer.weights is None:
            continue
        for part, array in (("weights", layer.weights), ("biases", layer.biases)):
            data = np.ascontiguousarray(array, dtype="<f4")
            entry[part] = {"shape": list(data.shape), "offset": offset, "length": data.size}
            blobs.append(data.tobytes())
            offset += data.size
    return layout, b"".join(blobs)


def from_binary(layout: dict, blob: bytes) -> Network:
    """The inverse of ``to_binary`` (weights come back as float32)."""
    values = np.frombuffer(blob, dtype="<f4")

    def array(entry: dict) -> np.ndarray:
        start, length = int(entry["offset"]), int(entry["length"])
        if start < 0 or start + length > values.size:
            raise NetworkError("the network's arrays are cut short")
        return values[start : start + length].reshape([int(n) for n in entry["shape"]]).copy()

    return _network(layout, array)


def _layout(network: Network) -> dict:
    layers = []
    for layer in network.layers:
        entry = {"kind": layer.kind, "activation": layer.activation}
        if layer.kind == "conv2d":
            entry["padding"] = layer.padding
        if layer.kind == "maxpool2d":
            entry["pool"] = layer.pool
        layers.append(entry)
    return {
        "family": network.family,
        "input_scale": float(network.input_scale),
        "input_shape": list(network.input_shape),
        "normalise_output": bool(network.normalise_output),
        "layers": layers,
    }


def to_payload(network: Network) -> dict:
    """The network as plain JSON for the browser: float32 arrays as base64 little-endian bytes.

    ``{"family", "input_scale", "input_shape", "normalise_output", "layers": [{"kind",
    "activation", "padding", "pool", "weights": {"shape", "data"}, "biases": {...}}]}``; the
    browser rebuilds each array with ``new Float32Array(bytes)`` in row-major (C) order.
    """
    payload = _layout(network)
    for layer, entry in zip(network.layers, payload["layers"], strict=True):
        if layer.weights is not None:
            entry["weights"] = _packed(layer.weights)
            entry["biases"] = _packed(layer.biases)
    return payload


def packed_texts(payload: dict) -> list[str]:
    """The base64 texts of a payload's weights and biases, layer by layer."""
    return [
        layer[part]["data"]
        for layer in payload["layers"]
        for part in ("weights", "biases")
        if part in layer
    ]


def payload_size(payload: dict) -> int:
    """The bytes of weights a payload carries (base64 decoded)."""
    return sum(len(base64.b64decode(text)) for text in packed_texts(payload))


def from_payload(payload: dict) -> Network:
    """The inverse of ``to_payload`` (weights come back as float32)."""
    return _network(payload, _unpacked)


def _network(payload: dict, array) -> Network:
    """The network ``payload`` lays out, each of its arrays made by ``array(entry)``."""
    try:
        layers = tuple(
            Layer(
                kind=entry["kind"],
                weights=array(entry["weights"]) if "weights" in entry else None,
                biases=array(entry["biases"]) if "biases" in entry else None,
                activation=entry.get("activation", "linear"),
                padding=entry.get("padding", "valid"),
                pool=int(entry.get("pool", 2)),
            )
            for entry in payload["layers"]
        )
        return Network(
            layers=layers,
            input_scale=float(payload["input_scale"]),
            input_shape=tuple(int(size) for size in payload["input_shape"]),
            normalise_output=bool(payload["normalise_output"]),
            family=str(payload.get("family", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, NetworkError):
            raise
        raise NetworkError("The network's description is incomplete or damaged.") from error


# --- the forward pass, layer by layer ----------------------------------------------------------


def _inputs(images, input_shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(images, dtype=np.float64)
    if array.ndim in (1, 2) and array.shape[-2:] == (28, 28):
        array = array[np.newaxis]
    if array.ndim == 1 and array.size == 784:
        array = array[np.newaxis]
    count = len(array)
    if array.size != count * 784:
        raise NetworkError(f"Expected 28x28 digit images; got an array of shape {array.shape}.")
    return array.reshape(count, *input_shape)


def _apply(layer: Layer, values: np.ndarray) -> np.ndarray:
    if layer.kind == "dense":
        if values.ndim != 2:
            raise NetworkError("A dense layer needs flat inputs: add a flatten layer before it.")
        return _activate(values @ np.asarray(layer.weights, np.float64) + layer.biases, layer)
    if layer.kind == "conv2d":
        return _activate(_convolve(values, layer), layer)
    if layer.kind == "maxpool2d":
        count, height, width, channels = values.shape
        size = layer.pool
        rows, columns = height // size, width // size
        windows = values[:, : rows * size, : columns * size].reshape(
            count, rows, size, columns, size, channels
        )
        return windows.max(axis=(2, 4))
    return values.reshape(len(values), -1)  # flatten: channels vary fastest, as in Keras


def _convolve(values: np.ndarray, layer: Layer) -> np.ndarray:
    weights = np.asarray(layer.weights, dtype=np.float64)
    kernel_height, kernel_width, in_channels, _ = weights.shape
    if values.ndim != 4 or values.shape[3] != in_channels:
        raise NetworkError(
            f"A conv2d layer with {in_channels} input channels got inputs of shape {values.shape}."
        )
    if layer.padding == "same":
        top, left = (kernel_height - 1) // 2, (kernel_width - 1) // 2
        values = np.pad(
            values,
            ((0, 0), (top, kernel_height - 1 - top), (left, kernel_width - 1 - left), (0, 0)),
        )
    windows = np.lib.stride_tricks.sliding_window_view(
        values, (kernel_height, kernel_width), axis=(1, 2)
    )  # (n, rows, columns, in_channels, kernel_height, kernel_width)
    return np.einsum("nrcikl,klio->nrco", windows, weights, optimize=True) + layer.biases


def _activate(values: np.ndarray, layer: Layer) -> np.ndarray:
    name = layer.activation
    if name == "relu":
        return np.maximum(values, 0.0)
    if name == "tanh":
        return np.tanh(values)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * values))  # the logistic function, without overflow
    if name == "softmax":
        shifted = values - values.max(axis=-1, keepdims=True)
        exponentials = np.exp(shifted)
        return exponentials / exponentials.sum(axis=-1, keepdims=True)
    return values


def _packed(array: np.ndarray) -> dict:
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode("ascii")}


def _unpacked(entry: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(entry["data"]), dtype="<f4")
    return data.reshape([int(size) for size in entry["shape"]]).copy()
