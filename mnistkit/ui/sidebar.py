"""The sidebar every page shares: where the digits come from and which models are ready."""

from __future__ import annotations

import streamlit as st

from mnistkit.ui import state
from mnistkit.ui.classroom import status_in_sidebar
from mnistkit.ui.data import current_dataset


def show_sidebar(page: str) -> None:
    """Show the data source and the visitor's models in the sidebar of ``page`` (its address:
    ``""`` for home, ``train``, ``draw``, ...).

    On the home page ready-made models are only counted, not loaded, so that the first page
    stays quick: loading a Keras model imports Keras.
    """
    ticket = st.session_state.get("mnistkit_job_ticket")  # ui.jobs.TICKET_KEY
    if ticket is not None:  # a run that has just finished joins the list shown below
        from mnistkit.ui import jobs

        jobs.collect()
    with st.sidebar:
        st.caption("**Digits in use**")
        st.caption(current_dataset().headline)
        st.caption("**Models in this session**")
        entries = state.all_models(load_ready_made=page != "")
        for entry in entries:
            st.caption(f"• {entry.label}")
        waiting = not st.session_state.get(state.READY_MADE_SEEN_KEY)
        files = state.ready_made_files(state.models_folder()) if waiting else []
        if files:
            plural = "s" if len(files) > 1 else ""
            st.caption(f"• {len(files)} ready-made model{plural}, loaded when a page uses them")
        if not entries and not files:
            st.caption("None yet: train one on the Train page.")
        status_in_sidebar()
        if st.session_state.get("mnistkit_job_ticket") is not None:  # ui.jobs.TICKET_KEY
            from mnistkit.ui import jobs

            jobs.sidebar_progress(page)
