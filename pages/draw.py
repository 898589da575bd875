"""Draw: write a digit with the mouse (or upload a picture) and see what a model reads."""

import streamlit as st

from mnistkit.ui.drawing import drawing_pad, picture_upload
from mnistkit.ui.router import through_the_router
from mnistkit.ui.teaching import handwriting_set, picture_sections, teaching_sections
from mnistkit.ui.training import quick_model
from mnistkit.ui.widgets import model_picker

through_the_router()  # a page opened by its own address still gets app.py's sidebar

st.title("Draw a digit")
st.write(
    "Write a digit from 0 to 9 on the white square. The model only ever sees a 28 by 28 grid, "
    "so your drawing is cropped, shrunk and centred the way MNIST's digits were; the small image "
    "shows exactly what it gets, and the bars how sure it is of each digit. Below the pad you can "
    "watch each of those steps, compare every model, see the evidence a linear model weighs "
    "and what a CNN's filters find, and test the models on your own handwriting."
)
entry = model_picker("Model that reads your digit")
if entry is None:
    st.info(
        "There is no model yet. Train one on the Train page, or let a quick one learn now "
        "from the training digits (it takes a few seconds).",
        icon=":material/info:",
    )
    quick_model()
    st.stop()

draw_tab, upload_tab = st.tabs(["Draw with the mouse", "Upload a picture"])
with draw_tab:
    drawing_pad(entry, below=lambda: teaching_sections(entry))
    handwriting_set()
with upload_tab:
    read = picture_upload(entry)
    if read is not None:
        picture_sections(entry, *read)
