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

dataset = current_dataset()
st.info(f"**Digits in use:** {dataset.headline}", icon=":material/dataset:")
if dataset.summary:  # a fallback: the technical reason, for whoever runs the server
    with st.expander("Details for whoever runs the server"):
        st.caption(dataset.source)

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

with st.container(border=True):  # a short link and its sentence, so a phone shows both whole
    st.page_link("pages/compare.py", label="**Then compare**", icon=":material/compare_arrows:")
    st.caption("What more data, a better loss or a hidden layer buys, measured here.")
