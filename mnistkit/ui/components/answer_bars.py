"""The answer's ten probabilities as bars, drawn with a few lines of HTML in the page.

The Draw page's answer changes with every stroke, on every learner's screen at once. A plotly
chart there made each browser load and run plotly's 4.7 MB script for ten bars; these bars cost
the browser next to nothing, so a class's shared computer keeps up with thirty pens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

HERE = Path(__file__).resolve().parent

_component = st.components.v2.component(
    "mnistkit_answer_bars",
    html='<div class="ab-root" role="img" data-testid="answer-bars"></div>',
    css=(HERE / "answer_bars.css").read_text(encoding="utf-8"),
    js=(HERE / "answer_bars.js").read_text(encoding="utf-8"),
    isolate_styles=False,  # in the page DOM, so outside checks find data-testid="answer-bars"
)


def answer_bars(probabilities, key: str) -> None:
    """Ten bars, one per digit, for ``probabilities`` (ten numbers that add up to 1)."""
    values = np.asarray(probabilities, dtype=np.float64).ravel()
    _component(
        data={"probabilities": [round(float(p), 6) for p in values]},
        key=key,
        width="stretch",
        height="content",
    )
