"""Compare: what each design choice buys, measured by training the models here and now."""

import streamlit as st

from mnistkit.ui.compare import article_walkthrough, learning_curves, where_models_disagree
from mnistkit.ui.data import current_dataset
from mnistkit.ui.router import through_the_router

through_the_router()  # a page opened by its own address still gets app.py's sidebar

dataset = current_dataset()

st.title("Compare the models")
st.write(
    "Three ways to see what each choice is worth. Every number here is measured on the "
    f"{len(dataset.y_test):,} test digits by training the models now, on this data set; nothing "
    "is copied from the articles. Press Stop at any time: finished runs are kept."
)

walk, curves, disagree = st.tabs(
    ["The article, step by step", "Learning curves", "Where the models disagree"],
    key="compare_tab",
    on_change="rerun",  # keeps the chosen tab across reruns; only the open tab does its work
)
if walk.open:
    with walk:
        st.write(
            "The first article's linear net, reproduced exactly, then changed one thing at a "
            "time up to the Keras network: each row shows what the change buys in test accuracy "
            "and costs in training time."
        )
        article_walkthrough(dataset)
if curves.open:
    with curves:
        st.write(
            "How much does more data help? The same settings trained on more and more of the "
            "training digits; the dashed line marks the 1,000 images the first article used."
        )
        learning_curves(dataset)
if disagree.open:
    with disagree:
        st.write(
            "Where your models give different answers to the same test digit, at least one of "
            "them is wrong. Pick one to see the training digits that look most like it."
        )
        where_models_disagree(dataset)
