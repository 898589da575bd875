"""A tiny component that keeps the class-mode learner token in a cookie of this browser.

Reading needs no component: ``st.context.cookies`` holds the cookies the browser sent when it
opened the page. Setting one needs JavaScript, which this component runs: ``data`` in is the
cookie's name, value and lifetime; nothing comes back.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent

_component = st.components.v2.component(
    "mnistkit_learner_cookie",
    html='<span data-testid="learner-cookie" data-state="waiting" hidden></span>',
    js=(HERE / "learner_cookie.js").read_text(encoding="utf-8"),
)


def keep_cookie(name: str, value: str, max_age_seconds: int, key: str) -> None:
    """Set cookie ``name`` to ``value`` (URL-safe text) for ``max_age_seconds``; 0 forgets it."""
    _component(data={"name": name, "value": value, "maxAge": max_age_seconds}, key=key)
