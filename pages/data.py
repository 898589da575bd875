"""Data: the training digits as a learner first meets them, pixel by pixel."""

import numpy as np
import streamlit as st

from mnistkit import plots
from mnistkit.ui.data import current_dataset, training_averages
from mnistkit.ui.router import through_the_router
from mnistkit.ui.widgets import digit_gallery

through_the_router()  # a page opened by its own address still gets app.py's sidebar

dataset = current_dataset()
images, labels = dataset.x_train, dataset.y_train

st.title("Look at the digits")
st.write(
    f"These are the {len(labels):,} training digits the models learn from. Each is a 28 by 28 "
    "grid of numbers from 0 (blank paper) to 255 (full ink), and each comes with the digit "
    "a person said it is: its label."
)

st.subheader("A sample of training digits")
filter_column, shuffle_column = st.columns([4, 1], vertical_alignment="bottom")
shown = filter_column.segmented_control(
    "Show", ["all", *range(10)], default="all", key="data_filter", help="Only one digit, or all."
)
if shuffle_column.button("Shuffle", icon=":material/shuffle:", width="stretch"):
    st.session_state.data_seed = st.session_state.get("data_seed", 0) + 1
candidates = np.arange(len(labels)) if shown in (None, "all") else np.flatnonzero(labels == shown)
generator = np.random.default_rng(st.session_state.get("data_seed", 0))
picked = np.sort(generator.choice(candidates, size=min(39, len(candidates)), replace=False))
digit_gallery(images[picked], [f"{labels[i]}  ·  #{i}" for i in picked], size=72)
st.caption("Under each digit: its label, then its position (#) in the training set.")

st.subheader("One digit up close")
view = (shown, st.session_state.get("data_seed", 0))  # the filter and shuffle the sample shows
if st.session_state.setdefault("data_view", view) != view:  # changed: follow it
    st.session_state.data_view = view
    st.session_state.data_position = int(picked[0])
position = st.number_input(
    "Position in the training set",
    min_value=0,
    max_value=len(labels) - 1,
    key="data_position",
    help="Type any number shown under a digit above; position 0 is the first training digit.",
)
image = images[position]
st.write(
    f"Digit #{position} is labelled **{labels[position]}**. The model never sees a picture, "
    "only these 784 numbers, one per pixel: 0 is blank paper, 255 the darkest ink."
)
# On a phone 28 numbers do not fit across: the grid keeps its shades, the box below the numbers.
st.html(
    "<style>@media (max-width: 640px) "
    "{ .st-key-data_pixel_grid g.heatmap-label { display: none; } }</style>"
)
with st.container(key="data_pixel_grid"):
    st.plotly_chart(
        plots.pixel_figure(image), width="stretch", config={"displayModeBar": False}, key="pixels"
    )
st.caption("On a phone the grid shows only the shades; the box below holds its numbers.")
with st.expander("The same numbers as Python prints them"):
    st.code(plots.pixel_matrix_text(image), language=None)

st.subheader("How many of each digit, and what the average one looks like")
st.write(
    "The classes are roughly balanced, so a model cannot score well by always guessing one digit. "
    "Averaging every training image of a class shows the shape a model can most easily learn."
)
counts, averages = st.columns(2)
with counts:
    st.plotly_chart(plots.count_figure(labels), width="stretch")
with averages:
    digit_gallery(training_averages(), [f"average {d}" for d in range(10)], 84)
