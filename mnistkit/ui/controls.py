"""The Train page's settings, generated from each model's own declarations.

``train_controls`` shows a family choice, its presets and a form of sliders and selects made from
``declarations(family)`` (``mnistkit.training``: the model's own settings, then the run's), so each
widget's range is its setting's declared range; it returns a ``RunConfig`` only when the form is
submitted with valid values, so moving a slider never retrains. A preset is applied by
``preset_settings``, the same function the command line and links use.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from mnistkit.links import NOT_SETTINGS, settings_from_query, settings_to_query, shared_page_url
from mnistkit.models import REGISTRY
from mnistkit.models.base import Hyperparameter
from mnistkit.training import RunConfig, declarations, preset_settings
from mnistkit.ui import limits

NO_PRESET = "(my own settings)"
TRAIN_SIZES = (500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000)
LINK_READ_KEY = "train_link_read"  # the page's link has been read into the widgets
LINK_NOTICES_KEY = "train_link_notices"  # a sentence per link parameter that was ignored
LINK_KEY = "train_link"  # the query parameters of the last run trained, for sharing


def log_grid(low: float, high: float, default: float | None = None) -> list[float]:
    """Values from ``low`` to ``high`` in 1-2-5 steps (0.001, 0.002, 0.005...), and the default."""
    values = {low, high} | ({default} if default is not None else set())
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = float(f"{mantissa}e{exponent}")
            if low <= value <= high:
                values.add(value)
    return sorted(values)


def _key(family: str, name: str) -> str:
    return f"train_{family}_{name}"


def hyperparameter_widget(family: str, declaration: Hyperparameter) -> Any:
    """One widget for one declared setting; returns its value (text for layers, parsed later).

    Each widget is also given the value the server holds as its own default: a browser that
    draws it afresh (after an interrupted rerun, under load) then shows that value, never the
    widget's minimum, and a form submitted from it sends what it shows.
    """
    key, title, help_text = _key(family, declaration.name), declaration.title, declaration.help
    value = st.session_state.get(key, _widget_value(declaration, declaration.default))
    if declaration.kind == "choice":
        index = list(declaration.options).index(value) if value in declaration.options else 0
        return st.selectbox(
            title, declaration.options, index, key=key, help=help_text, format_func=str
        )
    if declaration.kind == "bool":
        return st.toggle(title, bool(value), key=key, help=help_text)
    if declaration.kind == "layers":
        label = f"{title} (units per layer, like 128-64)"
        return st.text_input(label, str(value), key=key, help=help_text)
    if declaration.kind == "float" and declaration.log:
        grid = log_grid(declaration.low, declaration.high, declaration.default)
        grid = sorted({*grid, value})  # a linked value off the grid stays as is
        return st.select_slider(
            title, grid, value, key=key, help=help_text, format_func="{:g}".format
        )
    if declaration.kind == "float":
        step = (declaration.high - declaration.low) / 100
        return st.slider(
            title,
            float(declaration.low),
            float(declaration.high),
            float(value),
            key=key,
            step=step,
            help=help_text,
        )
    return st.slider(
        title, int(declaration.low), int(declaration.high), int(value), key=key, help=help_text
    )


def _widget_value(declaration: Hyperparameter, value: Any) -> Any:
    """A declared value in the form its widget holds (layers as text, "all" images as 0)."""
    if declaration.kind == "layers":
        return declaration.format(value)
    if declaration.name == "train_size":
        return value or 0
    return value


def _set_widgets(family: str, settings: dict[str, Any]) -> None:
    """Put every setting of a run into its widget (before the widgets are drawn)."""
    known = declarations(family)
    for name, value in settings.items():
        st.session_state[_key(family, name)] = _widget_value(known[name], value)


def _apply_preset(family: str) -> None:
    """Move the widgets to the chosen preset's values (runs before the page reruns)."""
    chosen = st.session_state[_key(family, "preset")]
    _set_widgets(family, preset_settings(family, None if chosen == NO_PRESET else chosen))


def family_choice() -> str:
    """Pick a model family; returns its registry name."""
    family = st.radio(
        "Model family",
        list(REGISTRY),
        format_func=lambda name: REGISTRY[name].display_name,
        horizontal=True,
        key="train_family",
    )
    st.caption(REGISTRY[family].summary)
    return family


def train_controls(n_train: int) -> RunConfig | None:
    """The whole settings panel; a ``RunConfig`` once the form is submitted with valid settings."""
    _read_link(n_train)
    for notice in st.session_state.get(LINK_NOTICES_KEY, []):
        st.warning(notice, icon=":material/link_off:")
    family = family_choice()
    model_class = REGISTRY[family]
    presets = [NO_PRESET, *model_class.presets]
    st.selectbox(
        "Preset",
        presets,
        key=_key(family, "preset"),
        on_change=_apply_preset,
        args=(family,),
        help="; ".join(f"{name}: {p.description}" for name, p in model_class.presets.items()),
    )
    known = declarations(family)
    run_names = ["train_size", "epochs", "validation_share", "seed"]  # the run's column
    with st.form(f"train_form_{family}", border=True):
        model_column, run_column = st.columns(2, gap="large")
        with model_column:
            st.markdown("**The model**")
            values = {
                name: hyperparameter_widget(family, declaration)
                for name, declaration in known.items()
                if name not in run_names
            }
        with run_column:
            st.markdown("**The run**")
            values |= _run_settings(family, {name: known[name] for name in run_names}, n_train)
        # one key for every family's button: a Train pressed while the page was still switching
        # family (under load the old form stays on screen a moment) trains the family now shown,
        # instead of being dropped with the old form
        submitted = st.form_submit_button(
            "Train", type="primary", icon=":material/play_arrow:", key="train_submit"
        )
    if not submitted:
        return None
    try:
        for name, value in values.items():
            if known[name].kind == "layers":
                values[name] = known[name].parse(value)
        config = RunConfig.from_settings(family, values)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None
    query = settings_to_query(config)
    kept = {k: v for k, v in st.query_params.to_dict().items() if k in NOT_SETTINGS}
    st.query_params.from_dict(kept | query)  # the address bar now links to these settings
    st.session_state[LINK_KEY] = query
    st.session_state[LINK_NOTICES_KEY] = []
    return config


def share_link() -> None:
    """The link to the last run's settings, for a teacher to send to a class.

    It uses ``MNISTKIT_PUBLIC_URL`` when set; a link on localhost is said to be useless to others.
    """
    query = st.session_state.get(LINK_KEY)
    if not query:
        return
    page = shared_page_url(st.context.url or "", os.environ.get("MNISTKIT_PUBLIC_URL"))
    st.caption("A link that opens this page with the last run's settings filled in:")
    st.code(f"{page.url}?{urlencode(query)}", language=None, wrap_lines=True)
    if page.local_only:
        st.warning(
            "This link starts with this computer's own name (localhost), so it opens only here, "
            "not on your students' devices. Start the app with `--server.address 0.0.0.0` and "
            "set `MNISTKIT_PUBLIC_URL` to the address they use, such as "
            "`http://192.168.1.20:8501` (see the README's set-up section).",
            icon=":material/wifi_off:",
        )


def _read_link(n_train: int) -> None:
    """Fill in the widgets from the page's query parameters, once per visit."""
    if st.session_state.get(LINK_READ_KEY):
        return
    st.session_state[LINK_READ_KEY] = True
    link = settings_from_query(st.query_params.to_dict())
    notices = list(link.ignored)
    if link.model is not None:
        family, settings = link.model, dict(link.settings)
        size = settings["train_size"]
        if size is not None and size >= n_train:
            notices.append(
                f"The link's train_size={size} was ignored: this data set has "
                f"{n_train:,} training digits, so the largest choice is all of them."
            )
            settings["train_size"] = None
        st.session_state["train_family"] = family
        _set_widgets(family, settings)
        st.session_state[_key(family, "preset")] = link.preset or NO_PRESET
    st.session_state[LINK_NOTICES_KEY] = notices


def _run_settings(family: str, known: dict[str, Hyperparameter], n_train: int) -> dict[str, Any]:
    """Training-set size, epochs, held-out share and seed; 0 in the size slider: every digit."""
    size_key = _key(family, "train_size")
    linked = st.session_state.get(size_key, 0)
    offered = set(TRAIN_SIZES) | ({linked} if isinstance(linked, int) and linked > 0 else set())
    sizes = sorted(size for size in offered if known["train_size"].low <= size < n_train) + [0]
    size = st.session_state.get(size_key, 0)
    if size not in sizes:
        size = st.session_state[size_key] = 0
    train_size = st.select_slider(
        known["train_size"].title,
        sizes,
        size,  # also the widget's own default: see hyperparameter_widget
        key=size_key,
        format_func=lambda size: f"all {n_train:,}" if size == 0 else f"{size:,}",
        help=known["train_size"].help,
    )
    run: dict[str, Any] = {"train_size": train_size or None}
    run["epochs"] = hyperparameter_widget(family, known["epochs"])
    run["validation_share"] = hyperparameter_widget(family, known["validation_share"])
    seed = known["seed"]
    key = _key(family, "seed")
    value = st.session_state.get(key, seed.default)
    run["seed"] = st.number_input(seed.title, seed.low, seed.high, value, key=key, help=seed.help)
    largest = n_train * known["epochs"].high
    if limits.max_images_per_run() < largest:
        st.caption(
            f"This server trains at most {limits.max_images_per_run():,} images x epochs in one "
            "run; the Train button says so if these settings take more."
        )
    return run
