"""The Train page's settings, generated from each model's own declarations.

``train_controls`` shows a family choice, its presets and a form of sliders and selects made from
``cls.hyperparameters``; it returns a ``RunConfig`` only when the form is submitted with valid
values, so moving a slider never retrains.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from mnistkit.links import settings_from_query, settings_to_query, shared_page_url
from mnistkit.models import REGISTRY
from mnistkit.models.base import Hyperparameter, HyperparameterError
from mnistkit.training import RunConfig

NO_PRESET = "(my own settings)"
TRAIN_SIZES = (500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000)
RUN_SETTINGS = {"epochs", "train_size", "seed"}  # widgets of the run, not of the model
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
    """A declared value in the form its widget holds (layers as text)."""
    return declaration.format(value) if declaration.kind == "layers" else value


def _apply_preset(family: str) -> None:
    """Move the widgets to the chosen preset's values (runs before the page reruns)."""
    model_class = REGISTRY[family]
    preset = model_class.presets.get(st.session_state[_key(family, "preset")])
    values = dict(model_class.defaults())
    run = {"epochs": values.get("epochs"), "train_size": None, "validation_share": None}
    if preset is not None:
        values.update(preset.hyperparameters)
        run.update(train_size=preset.train_size, validation_share=preset.validation_share)
        if preset.epochs is not None:
            run["epochs"] = preset.epochs
    for declaration in model_class.hyperparameters:
        if declaration.name not in RUN_SETTINGS:
            value = _widget_value(declaration, values[declaration.name])
            st.session_state[_key(family, declaration.name)] = value
    st.session_state[_key(family, "epochs")] = run["epochs"]
    st.session_state[_key(family, "train_size")] = run["train_size"] or 0
    st.session_state[_key(family, "validation_share")] = run["validation_share"]


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
    declarations = {h.name: h for h in model_class.hyperparameters}
    with st.form(f"train_form_{family}", border=True):
        model_column, run_column = st.columns(2, gap="large")
        with model_column:
            st.markdown("**The model**")
            values = {
                name: hyperparameter_widget(family, h)
                for name, h in declarations.items()
                if name not in RUN_SETTINGS
            }
        with run_column:
            st.markdown("**The run**")
            run = _run_settings(family, declarations.get("epochs"), n_train)
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if not submitted:
        return None
    try:
        for name, value in values.items():
            if declarations[name].kind == "layers":
                values[name] = declarations[name].parse(value)
        hyperparameters = model_class.validate_hyperparameters(values)
    except HyperparameterError as error:
        st.error(str(error), icon=":material/error:")
        return None
    share = st.session_state.get(_key(family, "validation_share"))
    if share is not None:
        run["validation_share"] = share
    try:
        config = RunConfig(model=family, hyperparameters=hyperparameters, **run)
    except ValueError as error:
        st.error(str(error))
        return None
    query = settings_to_query(config)
    st.query_params.from_dict(query)  # the address bar now holds a link to these settings
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
        family = link.model
        st.session_state["train_family"] = family
        declarations = {h.name: h for h in REGISTRY[family].hyperparameters}
        for name, value in link.hyperparameters.items():
            st.session_state[_key(family, name)] = _widget_value(declarations[name], value)
        if link.train_size is not None and link.train_size >= n_train:
            notices.append(
                f"The link's train_size={link.train_size} was ignored: this data set has "
                f"{n_train:,} training digits, so the largest choice is all of them."
            )
        elif link.train_size is not None:
            st.session_state[_key(family, "train_size")] = link.train_size
        if link.seed is not None:
            st.session_state[_key(family, "seed")] = link.seed
    st.session_state[LINK_NOTICES_KEY] = notices


def _run_settings(family: str, epochs: Hyperparameter | None, n_train: int) -> dict[str, Any]:
    """Training-set size, epochs and seed; 0 in the size slider means every training digit."""
    size_key = _key(family, "train_size")
    linked = st.session_state.get(size_key)
    offered = set(TRAIN_SIZES) | ({linked} if isinstance(linked, int) and linked > 0 else set())
    sizes = sorted(size for size in offered if size < n_train) + [0]
    size = st.session_state.get(size_key, 0)
    if size not in sizes:
        size = st.session_state[size_key] = 0
    train_size = st.select_slider(
        "Training digits",
        sizes,
        size,  # also the widget's own default: see hyperparameter_widget
        key=size_key,
        format_func=lambda size: f"all {n_train:,}" if size == 0 else f"{size:,}",
        help="The first N training digits, as the article did; held-out digits come from these.",
    )
    run: dict[str, Any] = {"train_size": train_size or None}
    if epochs is not None:
        run["epochs"] = hyperparameter_widget(family, epochs)
    seed_help = "The same seed and settings give the same model again."
    seed = st.session_state.get(_key(family, "seed"), 0)
    run["seed"] = st.number_input(
        "Seed", 0, 2**31 - 1, seed, key=_key(family, "seed"), help=seed_help
    )
    return run
