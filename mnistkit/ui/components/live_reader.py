"""The live reader: the Draw page reads the drawing in the browser while the pen moves.

``live_reader.js`` attaches to the pen (streamlit-drawable-canvas, in the ``draw_canvas``
container), turns its pixels into MNIST's 28x28 the way ``preprocess.to_mnist`` does and runs the
model's network (``mnistkit.network``) on them. The network goes to the browser once per model
and session; after that each rerun sends only the model's key and the server's official answer.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import streamlit as st

from mnistkit.network import NetworkError, to_binary
from mnistkit.ui.state import ModelEntry

HERE = Path(__file__).resolve().parent
KEY = "live_reader"  # the component's key on the Draw page
MAGIC = b"MNK1"  # the first four bytes of every message to the browser
SENT_KEY = "live_reader_networks_sent"  # the model keys whose network this session has sent
OFF_TEXT = (
    "Live reading is off (it needs JavaScript in a recent browser); the answer still comes each "
    "time you lift the pen."
)

_component = st.components.v2.component(
    "mnistkit_live_reader",
    html=f'<div class="lr-root"><p class="lr-off">{OFF_TEXT}</p></div>',
    css=(HERE / "live_reader.css").read_text(encoding="utf-8"),
    js=(HERE / "live_reader.js").read_text(encoding="utf-8"),
    isolate_styles=False,  # in the page DOM, so outside checks find data-testid="live-reading"
)


def model_key(entry: ModelEntry) -> str:
    """A key that changes whenever the model does (a retrained model is a new object)."""
    return f"{entry.name}#{id(entry.trained.model):x}"


def official_reading(digit: np.ndarray, probabilities) -> dict:
    """The server's answer as plain JSON: the digit, the ten probabilities, the 28x28 image."""
    probabilities = [float(p) for p in np.asarray(probabilities, dtype=np.float64).ravel()]
    return {
        "digit": int(np.argmax(probabilities)),
        "probabilities": [round(p, 6) for p in probabilities],
        "image": np.asarray(digit, dtype=np.uint8).ravel().tolist(),
    }


def message(model: str, official: dict | None, network: tuple[dict, bytes] | None) -> bytes:
    """What the browser is sent: ``MAGIC``, the header's length (uint32, little-endian), the
    header (JSON: ``{"model", "official", "network"}``, padded with spaces to four bytes), then
    the network's arrays (``mnistkit.network.to_binary``), if any."""
    layout, arrays = network if network is not None else (None, b"")
    header = json.dumps({"model": model, "official": official, "network": layout}).encode()
    header += b" " * (-len(header) % 4)  # the arrays start on a float32's boundary
    return MAGIC + struct.pack("<I", len(header)) + header + arrays


def network_payload(entry: ModelEntry) -> tuple[dict, bytes] | None:
    """The model's network for the browser (``to_binary``), or None when its family cannot
    hand one out.

    A ready-made model's is made once per server (they are shared and never change); a
    visitor's own model's is made for them alone.
    """
    if entry.ready_made:
        return _ready_made_payload(model_key(entry), entry)
    return _payload(entry)


@st.cache_resource(show_spinner=False, max_entries=32)
def _ready_made_payload(key: str, _entry: ModelEntry) -> tuple[dict, bytes] | None:
    """``_payload`` of the ready-made model ``key`` names (``_entry`` is not hashed)."""
    return _payload(_entry)


def _payload(entry: ModelEntry) -> tuple[dict, bytes] | None:
    try:
        return to_binary(entry.trained.model.to_network())
    except (NotImplementedError, NetworkError, AttributeError):
        return None


def live_reader(entry: ModelEntry, official: dict | None) -> None:
    """The live reading under the pad; ``official`` is the server's answer for the drawing."""
    key = model_key(entry)
    sent = st.session_state.setdefault(SENT_KEY, {})
    network = None
    if key not in sent:
        network = network_payload(entry)
        sent[key] = network is not None
    if not sent[key]:
        st.caption(
            f"Live reading is off for {entry.name}: its family cannot be read in the browser. "
            "Its answer comes each time you lift the pen."
        )
        return
    _component(
        data=message(key, official, network),
        key=KEY,
        on_need_network_change=_send_again,
        width="stretch",
        height="content",
    )


def _send_again() -> None:
    """The browser lacks a network (a reloaded component, a lost message): send it next run."""
    st.session_state[SENT_KEY] = {}
