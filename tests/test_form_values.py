"""The Train form shows the values the server holds, even when a browser draws it afresh.

Under load (issue 16: 30 visitors on one server) the Keras form once held every slider at its
minimum after the family was picked. The cause: the form's widgets were made without a default
of their own, so each one's own default was its minimum (a select slider's, its first option).
The browser shows a widget's own default whenever it draws the widget afresh without a value in
hand, which happens when a rerun is interrupted between the server setting the values and the
browser receiving them; the next run then sends no value (the server already holds it), and the
browser falls back to the minimum, which Train then submits. Each widget now carries the server's
value as its own default, so what a fresh browser shows is what the server holds, and a run names
the settings it used.
"""

from __future__ import annotations

import pytest
from conftest import ROOT
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

from mnistkit.models import REGISTRY

FAMILIES = list(REGISTRY)


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def form_widgets(at: AppTest, family: str) -> dict:
    """The form's widgets by key: every setting of the family and of the run."""
    prefix = f"train_{family}_"
    found = {}
    for kind in ("slider", "select_slider", "selectbox", "toggle", "text_input", "number_input"):
        for widget in getattr(at, kind):
            if widget.key and widget.key.startswith(prefix) and not widget.key.endswith("preset"):
                found[widget.key] = widget
    return found


def shown_when_drawn_afresh(widget):
    """What a browser shows for this widget when it draws it with no value of its own."""
    proto = widget.proto
    kind = type(widget).__name__
    if kind == "SelectSlider":
        return widget.options[int(proto.default[0])]
    if kind == "Slider":
        return proto.default[0]
    if kind == "Selectbox":
        return widget.options[proto.default]
    if kind == "Toggle":
        return proto.default
    return proto.default  # text input, number input


def held(widget):
    """The value the server holds for the widget, as the browser would show it."""
    kind = type(widget).__name__
    if kind in ("SelectSlider", "Selectbox"):
        return widget.format_func(widget.value)
    return widget.value


@pytest.mark.parametrize("family", FAMILIES)
def test_a_form_drawn_afresh_shows_the_values_the_server_holds(app, family):
    app.radio(key="train_family").set_value(family).run()
    app.run()  # a second run: the values now come from the server's state, not from defaults
    widgets = form_widgets(app, family)
    assert f"train_{family}_learning_rate" in widgets and f"train_{family}_epochs" in widgets
    for key, widget in widgets.items():
        assert shown_when_drawn_afresh(widget) == pytest.approx(held(widget)), key
        if key.endswith(("learning_rate", "epochs")):  # the sliders: not at the minimum
            assert held(widget) != widget.proto.min or widget.options, key


def test_values_a_visitor_chose_survive_a_fresh_drawing(app):
    family = "keras-mlp"
    app.radio(key="train_family").set_value(family).run()
    app.selectbox(key=f"train_{family}_preset").set_value("article-004").run()  # moves the form
    app.run()
    widgets = form_widgets(app, family)
    for key, expected in (
        ("batch_size", 32),
        ("epochs", 3),
        ("dropout", 0.0),
        ("hidden_layers", "128-128"),
        ("learning_rate", "0.001"),
    ):
        widget = widgets[f"train_{family}_{key}"]
        assert held(widget) == expected, key
        assert shown_when_drawn_afresh(widget) == expected, key


def test_a_finished_run_names_the_settings_it_used(app):
    family = "sklearn-mlp"
    app.radio(key="train_family").set_value(family).run()
    app.select_slider(key=f"train_{family}_learning_rate").set_value(0.002)
    app.slider(key=f"train_{family}_batch_size").set_value(64)
    app.select_slider(key=f"train_{family}_train_size").set_value(1000)
    app.slider(key=f"train_{family}_epochs").set_value(2)
    finish_run(app.form_submit_button[0].click().run())
    assert not app.exception
    (trained,) = app.session_state["mnistkit_models"].values()
    assert trained.config.hyperparameters["learning_rate"] == 0.002
    assert trained.config.hyperparameters["batch_size"] == 64
    (used,) = [c.value for c in app.caption if c.value.startswith("Settings used:")]
    for words in ("learning rate 0.002", "batch size 64", "2 epochs", "1,000 training digits"):
        assert words in used
