"""The confusion matrix you can click: a heatmap, and the test digits behind the chosen cell."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnistkit import plots
from mnistkit.evaluation import Evaluation, cell
from mnistkit.ui.widgets import digit_gallery

CHART_KEY = "confusion_chart"
TRUE_KEY = "cell_true"
PREDICTED_KEY = "cell_predicted"


def _take_clicked_cell() -> None:
    """Copy a clicked cell into the two select boxes (runs before the page reruns)."""
    event = st.session_state.get(CHART_KEY)
    points = event.selection.points if event else []
    if points:
        st.session_state[TRUE_KEY] = int(round(points[0]["y"]))
        st.session_state[PREDICTED_KEY] = int(round(points[0]["x"]))


def _commonest_mistake(confusion: np.ndarray) -> tuple[int, int]:
    """The off-diagonal cell with the most digits (true, predicted)."""
    off_diagonal = np.array(confusion, dtype=np.int64)
    np.fill_diagonal(off_diagonal, -1)
    true, predicted = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
    return int(true), int(predicted)


def confusion_explorer(evaluation: Evaluation, test_images: np.ndarray) -> None:
    """Show the clickable matrix on the left and the digits of the chosen cell on the right."""
    if TRUE_KEY not in st.session_state:
        st.session_state[TRUE_KEY], st.session_state[PREDICTED_KEY] = _commonest_mistake(
            evaluation.confusion
        )
    matrix, digits = st.columns([5, 4])
    with digits:
        true_column, predicted_column = st.columns(2)
        true = true_column.selectbox("True digit", range(10), key=TRUE_KEY)
        predicted = predicted_column.selectbox("Predicted digit", range(10), key=PREDICTED_KEY)
        indices = cell(evaluation, true, predicted)
        verdict = "read correctly" if true == predicted else f"read as {predicted}"
        st.write(f"**{len(indices):,}** test digits that are {true} were {verdict}.")
        shown = indices[:24]
        confidences = evaluation.confidences[shown]
        digit_gallery(test_images[shown], [f"{100 * c:.0f}% sure" for c in confidences], 64)
        if len(indices) > len(shown):
            st.caption(f"Showing the {len(shown)} the model was surest about.")
    with matrix:
        st.plotly_chart(
            plots.confusion_figure(evaluation.confusion, selected=(true, predicted)),
            key=CHART_KEY,
            on_select=_take_clicked_cell,
            selection_mode="points",
            width="stretch",
            config={"displayModeBar": False},
        )
