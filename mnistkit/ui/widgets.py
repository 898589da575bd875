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
    """A select box over the visitor's models; ``None`` when there are none yet.

    The newest model that learned something is picked first; one that reads no better than
    chance stays in the list, marked, and is picked only when it is chosen (or is all there is).
    """
    entries = state.all_models()
    problems = state.ready_made().problems
    for problem in problems:
        st.warning(f"A ready-made model could not be loaded: {problem}")
    if not entries:
        return None
    names = [entry.name for entry in entries]
    failed = {entry.name for entry in entries if state.reads_no_better_than_chance(entry)}
    usable = [name for name in names if name not in failed]
    picked_for_them = f"{key}_picked_for_you"  # the visitor has not chosen one themselves
    current = st.session_state.get(key)
    if current not in names or (
        current in failed and usable and st.session_state.get(picked_for_them)
    ):
        st.session_state[key] = (usable or names)[-1]  # the newest model that learned
        st.session_state[picked_for_them] = True
    labels = {
        entry.name: f"{entry.label} ⚠ reads no better than chance"
        if entry.name in failed
        else entry.label
        for entry in entries
    }
    chosen = st.selectbox(
        label,
        names,
        key=key,
        format_func=labels.get,
        on_change=lambda: st.session_state.update({picked_for_them: False}),
    )
    if chosen in failed:
        st.warning(
            f"{chosen} reads no better than chance, so its answers here mean little. "
            "Pick another model, or train one with its default settings.",
            icon=":material/warning:",
        )
    return state.find_model(chosen)
