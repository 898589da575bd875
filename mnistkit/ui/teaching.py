"""The Draw page's teaching sections: each preprocessing step, every model at once, a linear
model's evidence, a CNN's feature maps, and the learner's own handwriting set.

They read the current drawing from ``st.session_state[DRAWING_KEY]`` (the drawing pad keeps it
there). The four explaining sections run inside the pad's fragment, as expanders that work only
while open; what they compute and draw is kept per drawing and model (``memo``), so a rerun that
changed neither does not compute or rebuild it again. The handwriting set is a fragment of its
own below them: nothing in it changes with a stroke, so a pen lift does not send it again (about
a third of what a pen lift sent), and its Add button takes the drawing as it is when pressed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import streamlit as st

from mnistkit import plots, teaching
from mnistkit.data import DataError
from mnistkit.preprocess import ImageError, preprocessing_steps
from mnistkit.ui import classroom as class_hooks
from mnistkit.ui import limits, memo, state
from mnistkit.ui.components.live_reader import model_key
from mnistkit.ui.drawing import DRAWING_KEY, drawn_digit
from mnistkit.ui.state import ModelEntry
from mnistkit.ui.widgets import digit_gallery

CROP_KEY = "inspect_crop_and_scale"
CENTRE_KEY = "inspect_centre"
LABEL_KEY = "handwriting_label"
IMAGES_KEY = "handwriting_images"
LABELS_KEY = "handwriting_labels"
NOTICE_KEY = "handwriting_notice"  # (kind, sentence) left by the last add or upload
UPLOAD_KEY = "handwriting_upload"
STEP_TITLES = {
    "ink": "1. Ink",
    "cropped": "2. Cropped",
    "scaled": "3. Scaled to 20x20",
    "centred": "4. Centred in 28x28",
    "placed": "4. Placed, not centred",
    "resized": "2. Squeezed to 28x28",
}
STEP_SIZE = 140  # screen pixels per step picture
UPLOAD_PREFIX = "upload_"  # starts the keys of the sections shown for an uploaded picture


SECTIONS = {  # key -> title; a section works only while the learner has it open
    "inspector": "Step by step: how your {noun} becomes 28x28",
    "every_model": "Every model reads the same {noun}",
    "evidence": "Evidence: why the linear model reads what it reads",
    "feature_maps": "Feature maps: what a CNN's first filters find",
}
SECTION_KEY = "section_{}"  # the expander of each section, open or closed, in session state


def teaching_sections(entry: ModelEntry) -> None:
    """The four sections, each shut until opened, and the handwriting set, for the drawing."""
    drawing = st.session_state.get(DRAWING_KEY)
    digit = None
    if drawing is not None:
        try:
            digit = drawn_digit(drawing)
        except ImageError:
            drawing = None  # an empty canvas: the answer above already says so
    entries = state.all_models()
    st.divider()
    st.caption(
        "Open a section to see it; an open one follows each stroke, a shut one costs nothing."
    )
    with section("inspector") as shown:
        if shown:
            preprocessing_inspector(entry, drawing, digit)
    with section("every_model") as shown:
        if shown:
            every_model(entries, digit)
    with section("evidence") as shown:
        if shown:
            evidence_map(entries, entry, digit)
    with section("feature_maps") as shown:
        if shown:
            feature_maps(entries, entry, digit)


@st.fragment
def handwriting_set() -> None:
    """The learner's handwriting set under the pad: it reruns on its own buttons, not per stroke."""
    st.divider()
    handwriting(state.all_models())


def picture_sections(entry: ModelEntry, picture, digit: np.ndarray) -> None:
    """The inspector, every model, the evidence map, the feature maps and the handwriting set,
    for a picture and the 28x28 digit made from it.

    Both of the Draw page's tabs render on every run, so these widgets carry their own keys.
    """
    st.divider()
    entries = state.all_models()
    words = {"prefix": UPLOAD_PREFIX, "noun": "picture"}
    with section("inspector", **words) as shown:
        if shown:
            preprocessing_inspector(entry, picture, digit, **words)
    with section("every_model", **words) as shown:
        if shown:
            every_model(entries, digit, **words)
    with section("evidence", **words) as shown:
        if shown:
            evidence_map(entries, entry, digit, **words)
    with section("feature_maps", **words) as shown:
        if shown:
            feature_maps(entries, entry, digit, **words)
    st.divider()
    add_picture(digit)


@contextmanager
def section(name: str, prefix: str = "", noun: str = "drawing") -> Iterator[bool]:
    """Section ``name`` as an expander: what is written inside goes in it; yields whether it
    is open.

    Opening or shutting it reruns only the part of the page it is in (the pad's fragment), so
    a section's work is done only while it is open.
    """
    box = st.expander(
        SECTIONS[name].format(noun=noun), key=prefix + SECTION_KEY.format(name), on_change="rerun"
    )
    with box:
        yield bool(box.open)


def preprocessing_inspector(
    entry: ModelEntry,
    drawing,
    digit: np.ndarray | None,
    prefix: str = "",
    noun: str = "drawing",
) -> None:
    """Each step from the drawing to 28x28, with switches that skip steps.

    ``digit`` is the drawing made with every step; ``prefix`` starts every widget and container
    key; ``noun`` names what the learner gave.
    """
    st.write(
        "MNIST's digits were cropped to their ink, scaled to fit 20x20 and centred by their "
        "centre of mass in a 28x28 field, so models trained on them expect exactly that. Turn a "
        f"step off to see what the model makes of your {noun} without it."
    )
    crop_switch, centre_switch = st.columns(2)
    crop = crop_switch.toggle(
        "Crop and scale to 20x20",
        value=True,
        key=prefix + CROP_KEY,
        help="Off: the whole square is squeezed to 28x28, however small the digit is in it.",
    )
    centre = centre_switch.toggle(
        "Centre by centre of mass",
        value=True,
        key=prefix + CENTRE_KEY,
        help="Off: the digit stays where it is in the square instead of moving to the middle.",
    )
    if drawing is None:
        st.caption("Draw a digit above and each step appears here.")
        return
    drawn = _picture_key(drawing)
    steps, pictures = memo.once(
        prefix + "inspector_steps",
        (drawn, crop, centre),
        lambda: _steps_and_pictures(drawing, crop, centre),
    )
    for column, step, picture in zip(st.columns(len(steps)), steps, pictures, strict=True):
        with column:
            st.image(picture, width=STEP_SIZE)
            title = f"Your {noun}" if step.name == "raw" else STEP_TITLES.get(step.name, step.name)
            st.markdown(f"**{title}**")
            st.caption(step.explanation)
    skipped = []
    if not crop:
        skipped.append(
            "Step skipped: cropping and scaling. The digit keeps the size it had in the square, "
            f"so a small {noun} becomes a few faint pixels, unlike any MNIST digit."
        )
    if not centre:
        skipped.append(
            "Step skipped: centring by centre of mass. The digit stays where it was; a model "
            "trained on MNIST only ever saw centred digits, and each weight belongs to one pixel, "
            "so an off-centre digit lights up pixels that meant something else in training."
        )
    for sentence in skipped:
        st.warning(sentence, icon=":material/skip_next:")
    hint = memo.once(prefix + "stroke_hint", (drawn,), lambda: teaching.stroke_hint(drawing))
    if hint:
        st.info(hint, icon=":material/edit:")
    model = entry.trained.model
    seen, full = memo.once(
        prefix + "inspector_readings",
        (steps[-1].image, digit, model_key(entry)),
        lambda: [
            teaching.read_with_every_model({entry.name: model}, image)[0]
            for image in (steps[-1].image, digit)
        ],
    )
    with st.container(key=f"{prefix}inspector_answer"):
        if skipped:
            change = "the same" if seen.prediction == full.prediction else "a different answer"
            st.markdown(
                f"With these steps **{entry.name}** reads **{seen.prediction}** "
                f"({100 * seen.confidence:.0f}% sure); with every step it reads "
                f"**{full.prediction}** ({100 * full.confidence:.0f}% sure): {change}."
            )
        else:
            st.markdown(
                f"With every step, as MNIST's digits were made, **{entry.name}** reads "
                f"**{seen.prediction}** ({100 * seen.confidence:.0f}% sure)."
            )


def every_model(
    entries: list[ModelEntry], digit: np.ndarray | None, prefix: str = "", noun: str = "drawing"
) -> None:
    """The same 28x28 digit read by each of the visitor's models, disagreement highlighted."""
    st.write(
        f"Each of your models gets the same 28x28 image. Where they disagree, the {noun} sits "
        "between digits for them, and each model draws the line in its own place."
    )
    if digit is None:
        st.caption("Draw a digit above and every model's answer appears here.")
        return
    readings = memo.once(
        prefix + "every_model_readings",
        (digit, _models_key(entries)),
        lambda: teaching.read_with_every_model(
            {entry.name: entry.trained.model for entry in entries}, digit
        ),
    )
    grouped = teaching.answers(readings)
    majority = next(iter(grouped))
    with st.container(key=f"{prefix}every_model_verdict"):
        if len(readings) == 1:
            st.info("You have one model; train another on the Train page to compare them.")
        elif teaching.disagree(readings):
            lines = teaching.disagreement_lines(grouped)
            st.warning(
                "The models disagree.\n" + "\n".join(f"- {line}" for line in lines),
                icon=":material/help:",
            )
        else:
            st.success(f"All {len(readings)} models read {majority}.")
    for start in range(0, len(readings), 4):
        for column, reading in zip(st.columns(4), readings[start : start + 4], strict=False):
            with column.container(border=True):
                st.caption(reading.name)
                colour = "red" if reading.prediction != majority else "blue"
                st.markdown(
                    f"#### :{colour}[Reads {reading.prediction}]  \n"
                    f"{100 * reading.confidence:.0f}% sure"
                )
    figure = memo.once(
        prefix + "every_model_figure",
        (digit, _models_key(entries)),
        lambda: plots.readings_figure(
            [reading.name for reading in readings],
            np.array([reading.probabilities for reading in readings]),
        ),
    )
    st.plotly_chart(
        figure,
        width="stretch",
        key=f"{prefix}every_model_chart",
        config={"displayModeBar": False},
    )


def _choose_model(
    suitable: list[ModelEntry], entry: ModelEntry, label: str, key: str, missing: str
) -> ModelEntry | None:
    """Pick one of the models a section can show (the page's model if it is one); else say why."""
    if not suitable:
        st.info(missing)
        return None
    names = [each.name for each in suitable]
    chosen = st.selectbox(
        label,
        names,
        index=names.index(entry.name) if entry.name in names else len(names) - 1,
        key=key,
    )
    return next(each for each in suitable if each.name == chosen)


def evidence_map(
    entries: list[ModelEntry],
    entry: ModelEntry,
    digit: np.ndarray | None,
    prefix: str = "",
    noun: str = "drawing",
) -> None:
    """A linear model's ten weight images and, for the drawing, each pixel's push on each score."""
    chosen_entry = _choose_model(
        [each for each in entries if teaching.is_linear(each.trained.model)],
        entry,
        "Linear model",
        f"{prefix}evidence_model",
        "This part needs a linear net: train one on the Train page (family: Linear net "
        "(NumPy)). Its ten weighted sums are simple enough to show pixel by pixel.",
    )
    if chosen_entry is None:
        return
    model = chosen_entry.trained.model
    st.write(
        "A linear net gives each digit a score: every pixel's value times that pixel's weight, "
        "added up. Its ten rows of weights, drawn as images, are templates: red pixels are "
        "ones where ink counts for the digit, blue ones where ink counts against it."
    )
    weights_figure = memo.once(
        prefix + "evidence_weights",
        (model_key(chosen_entry),),
        lambda: plots.signed_digits_figure(
            teaching.weight_images(model), [f"Digit {d}" for d in range(10)], "Weight"
        ),
    )
    st.plotly_chart(
        weights_figure,
        width="stretch",
        key=f"{prefix}evidence_weights",
        config={"displayModeBar": False},
    )
    if digit is None:
        st.caption("Draw a digit above to see which of its pixels count for and against each.")
        return
    found, contributions_figure = memo.once(
        prefix + "evidence_contributions",
        (digit, model_key(chosen_entry)),
        lambda: _evidence_and_figure(model, digit),
    )
    st.write(
        f"Your {noun}, pixel by pixel: red where its ink raised a digit's score, blue where it "
        f"lowered it (blank where there is no ink). The highest score, **{found.prediction}**, "
        "is the answer."
    )
    st.plotly_chart(
        contributions_figure,
        width="stretch",
        key=f"{prefix}evidence_contributions",
        config={"displayModeBar": False},
    )


def feature_maps(
    entries: list[ModelEntry],
    entry: ModelEntry,
    digit: np.ndarray | None,
    prefix: str = "",
    noun: str = "drawing",
) -> None:
    """A CNN's first-layer filters and the feature map each makes of the digit."""
    chosen_entry = _choose_model(
        [each for each in entries if teaching.has_convolutions(each.trained.model)],
        entry,
        "Convolutional model",
        f"{prefix}feature_maps_model",
        "This part needs a convolutional network: train one on the Train page (family: "
        "Keras CNN). Its first layer's filters can be shown one by one.",
    )
    if chosen_entry is None:
        return
    if digit is None:
        st.caption("Draw a digit above to see what each filter finds in it.")
        return
    found, maps_figure = memo.once(
        prefix + "feature_maps",
        (digit, model_key(chosen_entry)),
        lambda: _feature_maps_and_figure(chosen_entry.trained.model, digit),
    )
    count, side = len(found.kernels), found.kernels.shape[-1]
    height, width = found.maps.shape[1:]
    st.write(
        f"The CNN's first layer slides each of its {count} filters, {side}x{side} pixels of "
        f"weights (top rows: red pixels count ink for, blue against), over your 28x28 {noun} "
        "and writes down at every position how strongly the patch under it matches: a "
        f"{height}x{width} feature map (bottom rows: dark where the filter's pattern is, white "
        "where it is not). Each filter picks out one kind of stroke, such as edges at one "
        "angle, stroke ends or thick ink; the next layer combines these maps into curves and "
        "corners."
    )
    with st.container(key=f"{prefix}feature_maps"):
        st.plotly_chart(
            maps_figure,
            width="stretch",
            key=f"{prefix}feature_maps_chart",
            config={"displayModeBar": False},
        )


def handwriting(entries: list[ModelEntry]) -> None:
    """Label the drawing, add it to the learner's set, and score every model on that set."""
    st.subheader("Your handwriting")
    st.write(
        "Models are scored on MNIST's test digits, written by people in the United States in the "
        "1990s. Build a test set of your own: say which digit you meant and add it. "
        + class_hooks.handwriting_note()
    )
    add_column, file_column = st.columns(2, gap="large")
    with add_column:
        _label_and_add(None)  # the pad's drawing, read when the button is pressed
        st.caption("The button adds the digit on the pad above as it is when you press it.")
    images = st.session_state.get(IMAGES_KEY)
    labels = st.session_state.get(LABELS_KEY)
    with file_column:
        st.file_uploader(
            "Add a set saved before (.npz)",
            type=["npz"],
            key=UPLOAD_KEY,
            on_change=_take_upload,
        )
        if labels is not None and len(labels):
            st.download_button(
                "Download my set (.npz)",
                memo.once(
                    "handwriting_file",
                    (images, labels),
                    lambda: teaching.handwriting_file(images, labels),
                ),
                file_name="my-handwriting.npz",
                mime="application/octet-stream",
                on_click="ignore",
                icon=":material/download:",
            )
            if st.button("Empty my set", icon=":material/delete:", key="handwriting_empty"):
                st.session_state[IMAGES_KEY] = st.session_state[LABELS_KEY] = None
                class_hooks.digits_emptied()
                st.session_state[NOTICE_KEY] = ("info", "Your set is empty again.")
                st.rerun(scope="fragment")
    _show_notice()
    if labels is None or len(labels) == 0:
        st.caption("Your set is empty: each digit you add is scored by every model here.")
        return
    counts = np.bincount(labels, minlength=10)
    listed = ", ".join(f"{count} × {d}" for d, count in enumerate(counts) if count)
    st.write(f"Your set holds **{_digits(len(labels))}** ({listed}). The newest:")
    digit_gallery(images[-12:][::-1], [f"meant {label}" for label in labels[-12:][::-1]], 56)
    handwriting_scores(entries, images, labels)


def handwriting_scores(entries: list[ModelEntry], images: np.ndarray, labels: np.ndarray) -> None:
    """Each model's accuracy on the learner's digits beside MNIST's, and a confusion matrix."""
    scores = memo.once(
        "handwriting_scores",
        (images, labels, _models_key(entries)),
        lambda: teaching.scores_on_handwriting(
            {entry.name: entry.trained.model for entry in entries},
            images,
            labels,
            {entry.name: entry.trained.test_accuracy for entry in entries},
        ),
    )
    st.markdown("**How well each model reads your handwriting**")
    rows = [
        {
            "Model": score.name,
            "Your digits read correctly": (
                f"{score.evaluation.n_correct} of {score.evaluation.n_digits}"
            ),
            "Accuracy on your digits (%)": f"{100 * score.accuracy:.1f}",
            "Accuracy on MNIST's test digits (%)": (
                "not measured"
                if score.mnist_accuracy is None
                else f"{100 * score.mnist_accuracy:.1f}"
            ),
        }
        for score in scores
    ]
    with st.container(key="handwriting_scores"):
        st.table(rows, hide_index=True)
    st.caption(
        "A model that reads MNIST well but your digits badly has learned MNIST's writers' habits; "
        "the confusion matrix shows which of your digits it takes for which."
    )
    names = [score.name for score in scores]
    matrix, choice = st.columns([3, 2], gap="large")
    chosen = choice.selectbox("Confusion matrix of", names, key="handwriting_confusion_model")
    choice.caption(
        "Rows: the digit you meant; columns: what the model read. Counts on the diagonal were "
        "read correctly; any other cell is a mistake."
    )
    evaluation = next(score for score in scores if score.name == chosen).evaluation
    matrix.plotly_chart(
        memo.once(
            "handwriting_confusion",
            (evaluation.confusion,),
            lambda: plots.confusion_figure(evaluation.confusion),
        ),
        width="stretch",
        key="handwriting_confusion",
        config={"displayModeBar": False},
    )


def add_picture(digit: np.ndarray) -> None:
    """Add an uploaded picture's digit to the learner's handwriting set."""
    st.subheader("Add it to your handwriting")
    st.write(
        "A photo of a digit you wrote on paper is your handwriting too. Say which digit you "
        "meant and add it to your set; the Draw with the mouse tab scores every model on it."
    )
    with st.columns(2, gap="large")[0]:
        _label_and_add(digit, prefix=UPLOAD_PREFIX)
    _show_notice(prefix=UPLOAD_PREFIX)


def _label_and_add(digit: np.ndarray | None, prefix: str = "") -> None:
    """The digit the learner meant, and the button that adds ``digit`` to the set with it
    (None: the pad's drawing at the press)."""
    label = st.selectbox(
        "The digit you meant",
        range(10),
        index=None,
        placeholder="Choose 0-9",
        key=prefix + LABEL_KEY,
    )
    st.button(
        "Add to my set",
        icon=":material/add:",
        disabled=label is None,
        key=prefix + "handwriting_add",
        on_click=_add,
        args=(digit, label, prefix),
    )


def _show_notice(prefix: str = "") -> None:
    """The sentence the last add or upload left, shown once: gone at the next rerun."""
    notice = st.session_state.pop(prefix + NOTICE_KEY, None)
    if notice:
        kind, sentence = notice
        getattr(st, kind)(sentence)


def _add(digit: np.ndarray | None, label: int, prefix: str = "") -> None:
    """Add the digit (None: the pad's drawing) to the learner's set, then empty the choice."""
    notice_key = prefix + NOTICE_KEY
    if digit is None:
        drawing = st.session_state.get(DRAWING_KEY)
        try:
            digit = None if drawing is None else drawn_digit(drawing)
        except ImageError:
            digit = None  # an emptied canvas
        if digit is None:
            st.session_state[notice_key] = (
                "info",
                f"Draw your {label} on the pad above first, then press Add to my set.",
            )
            return  # the chosen digit stays chosen
    st.session_state[prefix + LABEL_KEY] = None
    try:
        images, labels = teaching.add_digit(
            st.session_state.get(IMAGES_KEY), st.session_state.get(LABELS_KEY), digit, label
        )
    except DataError as error:
        st.session_state[notice_key] = ("error", str(error))
        return
    st.session_state[IMAGES_KEY], st.session_state[LABELS_KEY] = images, labels
    class_hooks.digits_added(images[-1:], labels[-1:])  # saved to the class, if they joined
    st.session_state[notice_key] = (
        "success",
        f"Added your {label}: your set now holds {_digits(len(labels))}.",
    )


def _take_upload() -> None:
    """Add the digits of an uploaded set to the learner's, or say why they cannot be used."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        data = upload.getvalue()
        limits.check_upload(len(data), upload.name)  # the server's cap, before any reading
        uploaded_images, uploaded_labels = teaching.read_handwriting_file(data)
        new_images, new_labels = teaching.merged(
            st.session_state.get(IMAGES_KEY),
            st.session_state.get(LABELS_KEY),
            uploaded_images,
            uploaded_labels,
        )
    except (DataError, limits.LimitError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"{upload.name} was not added: {error}")
        return
    st.session_state[IMAGES_KEY], st.session_state[LABELS_KEY] = new_images, new_labels
    class_hooks.digits_added(uploaded_images, uploaded_labels)
    st.session_state[NOTICE_KEY] = (
        "success",
        f"Added {_digits(len(uploaded_labels))} from {upload.name}: your set now holds "
        f"{_digits(len(new_labels))}.",
    )


def _models_key(entries: list[ModelEntry]) -> tuple[str, ...]:
    """Changes whenever any of the models does."""
    return tuple(model_key(entry) for entry in entries)


def _picture_key(picture) -> str:
    """The drawing's fingerprint (hashed once per run), or an uploaded picture's."""
    if isinstance(picture, np.ndarray):
        return memo.array_key(picture)
    return memo.fingerprint(np.asarray(picture), picture.mode)


def _steps_and_pictures(drawing, crop: bool, centre: bool) -> tuple[list, list[np.ndarray]]:
    """The inspector's steps for the drawing and their framed pictures."""
    steps = preprocessing_steps(drawing, crop_and_scale=crop, center=centre)
    return steps, [_framed(step.image, raw=step.name == "raw") for step in steps]


def _evidence_and_figure(model, digit: np.ndarray):
    """Each pixel's push on each score, and its figure, titled with the scores."""
    found = teaching.evidence(model, digit)
    titles = [
        f"{'▶ ' if d == found.prediction else ''}{d}: score {found.scores[d]:.2f}"
        for d in range(10)
    ]
    return found, plots.signed_digits_figure(found.contributions, titles, "Pixel × weight")


def _feature_maps_and_figure(model, digit: np.ndarray):
    """A CNN's first filters, the maps they make of the digit, and their figure."""
    found = teaching.feature_maps(model, digit)
    return found, plots.feature_maps_figure(found.kernels, found.maps)


def _framed(image: np.ndarray, raw: bool) -> np.ndarray:
    """A step picture made square on its background, enlarged with sharp pixels, framed."""
    height, width = image.shape
    side = max(height, width)
    # Past the first step the ink is white on black; the drawing keeps its commonest shade.
    background = np.bincount(image.ravel()).argmax() if raw else 0
    square = np.full((side, side), background, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = image
    factor = max(1, STEP_SIZE // side)
    square = np.kron(square, np.ones((factor, factor), dtype=np.uint8))
    return np.pad(square, max(1, square.shape[0] // 140), constant_values=170)


def _digits(count: int) -> str:
    """``count`` digits, in words a learner reads: "1 digit", "12 digits"."""
    return f"{count:,} digit" + ("" if count == 1 else "s")
