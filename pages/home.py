"""Home: what the dashboard is for, which digits it uses, the four steps, and what comes next."""

import streamlit as st

from mnistkit.ui.data import current_dataset
from mnistkit.ui.router import through_the_router

through_the_router()  # a page opened by its own address still gets app.py's sidebar

st.title("How does a neural network read handwritten digits?")
st.markdown(
    "MNIST is a collection of 70,000 handwritten digits, each a 28 by 28 grid of grey pixels, "
    "and reading them is where most people first meet neural networks. "
    "Here you look at those digits, train a network on them yourself, see where it goes wrong, "
    "and then let it read digits you draw. "
    "Nothing needs installing, and nothing you do here changes anything for other visitors."
)

st.info(f"**Digits in use:** {current_dataset().source}", icon=":material/dataset:")

st.subheader("Four steps")
steps = [
    ("pages/data.py", "Look", ":material/grid_on:", "The training digits, pixel by pixel."),
    ("pages/train.py", "Train", ":material/model_training:", "A network learns; you watch."),
    ("pages/evaluate.py", "Evaluate", ":material/fact_check:", "Which digits it mixes up."),
    ("pages/draw.py", "Draw", ":material/draw:", "Write a digit; see what it reads."),
]
for column, (page, label, icon, description) in zip(st.columns(4), steps, strict=True):
    with column.container(border=True):
        st.page_link(page, label=f"**{label}**", icon=icon)
        st.caption(description)

st.page_link(
    "pages/compare.py",
    label="**Then compare**: what more data, a better loss or a hidden layer buys, measured here.",
    icon=":material/compare_arrows:",
)
