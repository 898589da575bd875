"""Every visit goes through app.py's router, even when a page's own address is opened first.

Streamlit treats a folder named ``pages`` beside the main script as its older multipage layout:
on a fresh server it runs ``pages/draw.py`` on its own for a visitor whose first request is
``/draw``, without app.py's navigation and sidebar, and it stays that way until some visitor
opens the home page. Each page starts with ``through_the_router()``: it tells Streamlit that the
app navigates with ``st.navigation`` and reruns, so the same address is served through app.py.
"""

from __future__ import annotations

import streamlit as st


def through_the_router() -> None:
    """Rerun through app.py when Streamlit ran this page by itself (see the module docstring)."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False  # what st.navigation in app.py would have set
        st.rerun()
