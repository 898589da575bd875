"""The drawing pad: a canvas, the 28x28 image the model sees, and its answer, updated per stroke."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnistkit import plots
from mnistkit.preprocess import BlankImageError, ImageError, read_image, to_mnist
from mnistkit.ui.state import ModelEntry

CANVAS_SIZE = 280  # pixels: ten screen pixels per MNIST pixel


def show_answer(entry: ModelEntry, image, key: str) -> None:
    """Show what the model sees and what it answers (in container ``key``), or why it cannot."""
    seen, answer = st.columns([2, 3])
    try:
        if image is None:
            raise BlankImageError("nothing drawn yet")
        digit = to_mnist(image)
    except BlankImageError:
        with answer.container(key=key):
            st.write("Draw a digit and the model's answer appears here.")
        return
    except ImageError as error:
        answer.error(str(error))
        return
    probabilities = np.asarray(entry.trained.model.predict_proba(digit[np.newaxis]))[0]
    with seen:
        st.image(plots.display_image(digit, 168), caption="What the model sees (28x28)", width=168)
    with answer:
        with st.container(key=key):
            best = int(np.argmax(probabilities))
            st.markdown(f"### Prediction: {best}")
            st.caption(f"{100 * probabilities[best]:.0f}% sure, according to {entry.name}")
        st.plotly_chart(plots.probability_figure(probabilities), width="stretch")


@st.fragment
def drawing_pad(entry: ModelEntry) -> None:
    """The canvas and the answer; a finished stroke reruns only this part of the page."""
    from streamlit_drawable_canvas import st_canvas  # needs the running Streamlit runtime

    generation = st.session_state.setdefault("canvas_generation", 0)
    pad, result = st.columns([2, 3], gap="large")
    with pad:
        width = st.session_state.get("pen_width", 22)
        st.caption("Draw one digit below; the answer changes each time you lift the pen.")
        with st.container(key="draw_canvas"):
            canvas = st_canvas(
                stroke_width=width,
                stroke_color="#1b1b1b",
                background_color="#ffffff",
                height=CANVAS_SIZE,
                width=CANVAS_SIZE,
                drawing_mode="freedraw",
                return_image_data=True,
                key=f"canvas_{generation}",
            )
        pen, clear = st.columns([3, 2], vertical_alignment="bottom")
        pen.slider("Pen width (pixels)", 8, 40, 22, key="pen_width")
        if clear.button("Clear", icon=":material/ink_eraser:"):
            st.session_state.canvas_generation = generation + 1
            st.rerun(scope="fragment")
    strokes = (canvas.json_data or {}).get("objects", [])
    with result:
        show_answer(entry, canvas.image_data if strokes else None, key="draw_prediction")


def picture_upload(entry: ModelEntry) -> None:
    """Read an uploaded photo or scan of a digit, safely, and show the model's answer."""
    upload = st.file_uploader(
        "A picture of one digit (PNG, JPEG, GIF, BMP or WebP)",
        type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
        key="digit_picture",
    )
    if upload is None:
        st.caption("Dark ink on light paper or light on dark both work; crop close to the digit.")
        return
    try:
        picture = read_image(upload.getvalue())
        to_mnist(picture)  # a blank picture is explained here, not taken for an empty canvas
    except ImageError as error:
        st.error(f"That file could not be used: {error}")
        return
    show_answer(entry, picture, key="upload_prediction")
