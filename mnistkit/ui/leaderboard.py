"""Score tables: one model digit by digit, and the leaderboard of every model in the visitor's
list on the same test digits, best marked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mnistkit.evaluation import CLASSES, best_in_each_column, leaderboard, per_class_table
from mnistkit.ui import state

BEST_STYLE = "background-color: #dbe7d3; font-weight: 600"  # a quiet green, as the theme
PIXELS_PER_CHARACTER = 7.6  # of a model name in the table's 14 px font, with room to spare


def name_width(names) -> int:
    """Pixels wide enough for the longest model name, so that no two names look the same."""
    longest = max((len(str(name)) for name in names), default=10)
    return int(min(400, max(160, 24 + PIXELS_PER_CHARACTER * longest)))


def digit_by_digit_table(evaluation) -> None:
    """One model's scores for each digit, digits across so that all ten fit on a screen."""
    rows = per_class_table(evaluation)
    measures = {
        "test digits": lambda row: f"{row['support']:,}",
        "read right": lambda row: f"{row['correct']:,}",
        "precision (%)": lambda row: f"{100 * row['precision']:.1f}",
        "recall (%)": lambda row: f"{100 * row['recall']:.1f}",
        "F1 (%)": lambda row: f"{100 * row['f1']:.1f}",
    }
    columns = {str(row["digit"]): [shown(row) for shown in measures.values()] for row in rows}
    table = pd.DataFrame(columns, index=list(measures))
    table.columns.name = "digit"
    st.table(table)


def _marked(entry: state.ModelEntry) -> str:
    """The model's label, marked when it reads no better than chance."""
    failed = state.reads_no_better_than_chance(entry)
    return f"{entry.label} ⚠ at chance" if failed else entry.label


def leaderboard_table(dataset) -> None:
    """Every model's scores, sortable, the best of each column shaded: overall, then F1 by digit.

    The ten F1 columns get a table of their own, so that neither table scrolls sideways.
    """
    entries = state.all_models()
    rows = leaderboard([(_marked(e), e.trained, state.evaluation_of(e, dataset)) for e in entries])
    f1_columns = {f"F1 of {digit} (%)": str(digit) for digit in CLASSES}  # named by digit here
    digits = list(f1_columns.values())
    table = pd.DataFrame(rows).rename(columns=f1_columns)
    marks = best_in_each_column(rows)
    best = {f1_columns.get(column, column): marks[column] for column in marks}

    def shade(column: pd.Series) -> list[str]:
        marked = set(best.get(column.name, []))
        return [BEST_STYLE if index in marked else "" for index in range(len(column))]

    overall = table.drop(columns=digits)
    formats = {
        "test accuracy (%)": "{:.1f}",
        "training time (s)": "{:.1f}",
        "reading time (ms per digit)": "{:.3f}",
        "parameters": "{:,}",
    }
    st.dataframe(overall.style.apply(shade).format(formats), hide_index=True)
    st.markdown("**F1 digit by digit (%)**: how well each model does on each digit.")
    st.dataframe(
        table[["model", *digits]].style.apply(shade).format(dict.fromkeys(digits, "{:.1f}")),
        hide_index=True,
        column_config={
            "model": st.column_config.TextColumn(width=name_width(table["model"])),  # unpinned: on
            # a phone the digits scroll into view beside the name instead of hiding under it
            **{digit: st.column_config.NumberColumn(width=52) for digit in digits},
        },
    )
    st.caption(
        "Click a column's name to sort by it. Shaded: the best of each column, which is the "
        "highest accuracy and F1 (%), the shortest times (seconds to train, milliseconds to "
        "read one digit in a batch) and the fewest parameters (weights and biases learned). "
        "⚠ at chance: the model reads no better than guessing (10%)."
    )
