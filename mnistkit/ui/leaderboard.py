"""The leaderboard: every model in the visitor's list on the same test digits, best marked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnistkit.evaluation import best_in_each_column, leaderboard
from mnistkit.ui import state

BEST_STYLE = "background-color: #dbe7d3; font-weight: 600"  # a quiet green, as the theme


def leaderboard_table(dataset) -> None:
    """Show every model's scores, sortable, with the best value of each column shaded."""
    entries = state.all_models()
    rows = leaderboard([(e.label, e.trained, state.evaluation_of(e, dataset)) for e in entries])
    best = best_in_each_column(rows)
    table = pd.DataFrame(rows)

    def shade(column: pd.Series) -> list[str]:
        marked = set(best.get(column.name, []))
        return [BEST_STYLE if index in marked else "" for index in range(len(column))]

    formats = {column: "{:.1f}" for column in table.columns if column.endswith("(%)")}
    formats |= {"training time (s)": "{:.1f}", "reading time (ms per digit)": "{:.3f}"}
    formats["parameters"] = "{:,}"
    st.dataframe(table.style.apply(shade).format(formats), hide_index=True)
    st.caption(
        "Click a column's name to sort by it. Shaded: the best of each column, which is the "
        "highest accuracy and F1 (%), the shortest times (seconds to train, milliseconds to "
        "read one digit in a batch) and the fewest parameters (weights and biases learned)."
    )
