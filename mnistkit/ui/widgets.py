"""Small widget groups the pages share: digit galleries and the model picker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from mnistkit.plots import display_image
from mnistkit.ui import state


def digit_gallery(images: np.ndarray, captions: Sequence[str], size: int = 84) -> None:
    """Show digits side by side, each enlarged with sharp pixels and captioned."""
    if len(images) == 0:
        st.caption("No digits to show.")
        return
    st.image([display_image(image, size) for image in images], caption=list(captions), width=size)


def model_picker(label: str = "Model", key: str = "picked_model") -> state.ModelEntry | None:
    """A select box over the visitor's models; ``None`` when there are none yet."""
    entries = state.all_models()
    problems = state.ready_made().problems
    for problem in problems:
        st.warning(f"A ready-made model could not be loaded: {problem}")
    if not entries:
        return None
    names = [entry.name for entry in entries]
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[-1]  # the newest model
    labels = {entry.name: entry.label for entry in entries}
    chosen = st.selectbox(label, names, key=key, format_func=labels.get)
    return state.find_model(chosen)
