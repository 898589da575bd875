"""The live reader in a browser: load its JavaScript on a bare page, and read it on the Draw page.

Used by tests/test_live_reader.py and bench/live_bench.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "mnistkit" / "ui" / "components" / "live_reader.js"
LIVE = '[data-testid="live-reading"]'

# Keeps every data-ms the reader shows, so a benchmark sees each update, not only the last.
RECORD_UPDATES = """() => {
  const root = document.querySelector('[data-testid="live-reading"]');
  window.liveUpdates = [];
  if (window.liveObserved === root) return;
  window.liveObserved = root;
  new MutationObserver(() => window.liveUpdates.push(
    {ms: Number(root.dataset.ms), state: root.dataset.state, digit: root.dataset.digit}
  )).observe(root, {attributes: true, attributeFilter: ["data-ms"]});
}"""


def load_reader_module(page) -> None:
    """Import live_reader.js on ``page`` as ``window.reader`` (its toMnist, forward, ...)."""
    page.set_content("<!doctype html><html><body></body></html>")
    page.evaluate(
        """async (source) => {
            const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
            window.reader = await import(url);
        }""",
        SCRIPT.read_text(encoding="utf-8"),
    )


def browser_to_mnist(page, gray: np.ndarray) -> np.ndarray | None:
    """The reader's 28x28 for a grey (height, width) uint8 drawing, or None when it is blank."""
    height, width = gray.shape
    result = page.evaluate(
        """([bytes, width, height]) => {
            const gray = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
            const rgba = new Uint8ClampedArray(width * height * 4);
            for (let i = 0; i < gray.length; i++) {
                rgba.set([gray[i], gray[i], gray[i], 255], 4 * i);
            }
            const pixels = window.reader.toMnist(rgba, width, height);
            return pixels === null ? null : Array.from(pixels);
        }""",
        [_base64(gray), width, height],
    )
    return None if result is None else np.array(result, dtype=np.uint8).reshape(28, 28)


def browser_forward(page, payload: dict, images: np.ndarray) -> np.ndarray:
    """The reader's ten probabilities for each 28x28 image, with the network of ``payload``
    (``to_payload``'s), sent to it as the Draw page sends a network."""
    from mnistkit.network import from_payload, to_binary
    from mnistkit.ui.components.live_reader import message

    network = to_binary(from_payload(payload))
    return browser_forward_message(page, message("", None, network), images)[2]


def browser_forward_message(page, message: bytes, images: np.ndarray, offset: int = 0):
    """The model key and ten probabilities per image the reader gets from a server ``message``
    (live_reader.message), handed to it at ``offset`` bytes into a larger buffer, as protobuf
    hands the browser its bytes (an offset not a multiple of four makes the reader copy)."""
    import base64

    result = page.evaluate(
        """([text, offset, images]) => {
            const raw = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const buffer = new Uint8Array(raw.length + offset + 3);
            buffer.set(raw, offset);
            const bytes = buffer.subarray(offset, offset + raw.length);
            const message = window.reader.decodeMessage(bytes);
            const outputs = images.map((image) => {
                const layers = window.reader.forward(message.network, image);
                return Array.from(layers[layers.length - 1]);
            });
            return {model: message.model, official: message.official, outputs};
        }""",
        [
            base64.b64encode(message).decode(),
            offset,
            np.asarray(images, dtype=np.uint8).reshape(len(images), -1).tolist(),
        ],
    )
    return result["model"], result["official"], np.array(result["outputs"])


def live_state(page) -> dict:
    """The reader's test contract and the server's answer it was given, as plain values."""
    values = page.locator(LIVE).evaluate(
        """(root) => ({digit: root.dataset.digit, probabilities: root.dataset.probabilities,
                     ms: root.dataset.ms, image: root.dataset.image, state: root.dataset.state,
                     officialDigit: root.dataset.officialDigit,
                     officialProbabilities: root.dataset.officialProbabilities,
                     officialImage: root.dataset.officialImage})"""
    )

    def image(text):
        return None if text is None else np.array(text.split(","), dtype=np.uint8)

    return {
        "digit": None if values["digit"] is None else int(values["digit"]),
        "probabilities": _json(values["probabilities"]),
        "ms": None if values["ms"] is None else float(values["ms"]),
        "image": image(values["image"]),
        "state": values["state"],
        "official_digit": (
            None if values["officialDigit"] is None else int(values["officialDigit"])
        ),
        "official_probabilities": _json(values["officialProbabilities"]),
        "official_image": image(values["officialImage"]),
    }


def _json(text):
    return None if text is None else np.array(json.loads(text), dtype=np.float64)


def _base64(array: np.ndarray) -> str:
    import base64

    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()
