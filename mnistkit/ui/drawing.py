"""The drawing pad: a canvas, the 28x28 image the model sees, and its answer, updated per stroke."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from mnistkit import plots
from mnistkit.preprocess import BlankImageError, ImageError, read_image, to_mnist
from mnistkit.ui import limits, memo
from mnistkit.ui.components.answer_bars import answer_bars
from mnistkit.ui.components.live_reader import live_reader, model_key, official_reading
from mnistkit.ui.state import ModelEntry

CANVAS_SIZE = 280  # pixels: ten screen pixels per MNIST pixel
DRAWING_KEY = "draw_drawing"  # the current drawing (the canvas's RGBA array), or None
STROKES_KEY = "draw_strokes"  # how many strokes the canvas held at the last run
PICTURE_KEY = "draw_picture"  # the canvas's PNG of the stored drawing, to see when it changed


def show_answer(
    entry: ModelEntry, image, key: str, digit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Show what the model sees and what it answers (in container ``key``), or why it cannot.

    ``digit`` is the image already made 28x28, when the caller has it. Returns the 28x28 digit
    and its ten probabilities once there is a digit to read.
    """
    seen, answer = st.columns([2, 3])
    try:
        if image is None:
            raise BlankImageError("nothing drawn yet")
        if digit is None:
            digit = drawn_digit(image)
    except BlankImageError:
        with answer.container(key=key):
            st.write("Draw a digit and the model's answer appears here.")
        return None
    except ImageError as error:
        answer.error(str(error))
        return None
    probabilities = memo.once(
        f"{key}_probabilities",
        (digit, model_key(entry)),
        lambda: np.asarray(entry.trained.model.predict_proba(digit[np.newaxis]))[0],
    )
    with seen:
        st.image(plots.display_image(digit, 168), caption="What the model sees (28x28)", width=168)
    with answer:
        with st.container(key=key):
            best = int(np.argmax(probabilities))
            st.markdown(f"### Prediction: {best}")
            st.caption(f"{100 * probabilities[best]:.0f}% sure, according to {entry.name}")
        # keyed: the pad's and a picture's bars may show equal numbers
        answer_bars(probabilities, key=f"{key}_chart")
    return digit, probabilities


def drawn_digit(image) -> np.ndarray:
    """The 28x28 digit of a drawing (the canvas's array), made once per drawing however often
    a rerun asks; any other picture is made each time."""
    if not isinstance(image, np.ndarray):
        return to_mnist(image)
    return memo.once("drawn_digit", (memo.array_key(image),), lambda: to_mnist(image))


@st.fragment
def drawing_pad(entry: ModelEntry, below: Callable[[], None] | None = None) -> None:
    """The canvas and the answer; a finished stroke reruns only this part of the page.

    The drawing is kept in ``st.session_state[DRAWING_KEY]``; ``below`` runs after the answer,
    inside this fragment, so whatever it shows follows each stroke too.
    """
    from streamlit_drawable_canvas import st_canvas  # needs the running Streamlit runtime

    generation = st.session_state.setdefault("canvas_generation", 0)
    pad, result = st.columns([2, 3], gap="large")
    with pad:
        width = st.session_state.get("pen_width", 22)
        st.caption(
            "Draw one digit below, large enough to fill most of the square. The live reading "
            "under the pad follows the pen; the Prediction beside it, from the server each time "
            "you lift the pen, is the official answer."
        )
        st.space("medium")  # room for the canvas's toolbar, which shows above it on hover
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
        pen.slider(
            "Pen width (pixels)",
            8,
            40,
            22,
            key="pen_width",
            help="MNIST's strokes are 2 to 3 of its 28 pixels wide: 20 to 30 pixels on this "
            "canvas, for a digit as tall as the square. Much thinner strokes turn faint once "
            "shrunk to 28x28 (the preview shows it).",
        )
        if clear.button("Clear", icon=":material/ink_eraser:"):
            st.session_state.canvas_generation = generation + 1
            st.session_state[DRAWING_KEY] = st.session_state[PICTURE_KEY] = None
            st.session_state[STROKES_KEY] = 0
            st.rerun(scope="fragment")
        live = st.container()  # the live reading, right under the pad
    keep_drawing((canvas.json_data or {}).get("objects", []), canvas)
    with result:
        reading = show_answer(entry, st.session_state.get(DRAWING_KEY), key="draw_prediction")
    with live:
        live_reader(entry, official_reading(*reading) if reading else None)
    if below is not None:
        below()


def keep_drawing(strokes: list, canvas) -> None:
    """Store the canvas's drawing when it has strokes; forget it once the canvas is emptied.

    A canvas that never held a stroke leaves the stored drawing alone, so a drawing put there
    another way (a test, say) is read as if it had been drawn.
    """
    if strokes:
        picture = canvas.image_bytes  # a PNG; decoded only when it differs from the last one
        if picture != st.session_state.get(PICTURE_KEY):
            st.session_state[DRAWING_KEY] = canvas.image_data
            st.session_state[PICTURE_KEY] = picture
    elif st.session_state.get(STROKES_KEY):
        st.session_state[DRAWING_KEY] = st.session_state[PICTURE_KEY] = None
    st.session_state[STROKES_KEY] = len(strokes)


def picture_upload(entry: ModelEntry) -> tuple | None:
    """Read an uploaded photo or scan of a digit, safely, and show the model's answer.

    Returns the picture (a PIL image) and its 28x28 digit once it holds one, else None.
    """
    upload = st.file_uploader(
        "A picture of one digit (PNG, JPEG, GIF, BMP or WebP)",
        type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
        key="digit_picture",
    )
    if upload is None:
        st.caption("Dark ink on light paper or light on dark both work; crop close to the digit.")
        return None
    try:
        data = upload.getvalue()
        limits.check_upload(len(data), upload.name)  # the server's cap, before any decoding
        picture = read_image(data)
        digit = to_mnist(picture)  # a blank picture is explained here, not as an empty canvas
    except (ImageError, limits.LimitError) as error:
        st.error(f"That file could not be used: {error}")
        return None
    show_answer(entry, picture, key="upload_prediction", digit=digit)
    return picture, digit
