"""Shareable runs: the Train page's settings in a link, read back safely."""

from __future__ import annotations

import pytest
from conftest import ROOT, keras_slow
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

import mnistkit.ui.jobs
from mnistkit.links import settings_from_query, settings_to_query
from mnistkit.models import REGISTRY
from mnistkit.training import RunConfig, declarations
from mnistkit.ui import limits
from mnistkit.ui.state import MODELS_KEY


def configs() -> list[RunConfig]:
    """Every model's defaults and every preset, with a size, share and seed of their own."""
    runs = [
        RunConfig(model=name, train_size=2000, seed=7, validation_share=0.25) for name in REGISTRY
    ]
    for name, model_class in REGISTRY.items():
        runs += [RunConfig.from_preset(name, preset, seed=3) for preset in model_class.presets]
    return runs


def presets() -> list:
    """Every (family, preset) in the registry, whatever families it holds; Keras ones are slow."""
    return [
        pytest.param(family, preset, marks=[pytest.mark.slow] if family.startswith("keras") else [])
        for family, model in REGISTRY.items()
        for preset in model.presets
    ]


@pytest.mark.parametrize("config", configs(), ids=lambda config: config.model)
def test_a_link_gives_back_exactly_the_settings_it_was_made_from(config):
    link = settings_from_query(settings_to_query(config))
    assert link.ignored == []
    assert link.config() == config
    assert link.preset == config.preset()


def test_a_link_names_its_preset_and_carries_every_setting():
    query = settings_to_query(RunConfig.from_preset("scratch-linear", "article"))
    assert query["preset"] == "article"
    assert (query["train_size"], query["validation_share"], query["epochs"]) == ("1000", "0.0", "5")
    only_the_name = settings_from_query({"model": "scratch-linear", "preset": "article"})
    assert only_the_name.config() == RunConfig.from_preset("scratch-linear", "article")
    changed = settings_from_query({"model": "scratch-linear", "preset": "article", "epochs": "6"})
    assert changed.preset is None and changed.config().epochs == 6
    unknown = settings_from_query({"model": "scratch-linear", "preset": "fast"})
    assert unknown.ignored == [
        "The link's preset=fast was ignored: scratch-linear has no preset 'fast'; its presets "
        "are: article, article-all-images."
    ]


def test_each_unusable_parameter_is_ignored_with_its_own_sentence():
    link = settings_from_query(
        {
            "model": "sklearn-mlp",
            "learning_rate": "99",  # above its range: refused, not clipped to 10
            "hidden_layers": "wide",
            "colour": "red",
            "seed": "-1",
            "train_size": "zero",
            "epochs": "3",
        }
    )
    assert link.model == "sklearn-mlp"
    assert link.config() == RunConfig("sklearn-mlp", epochs=3)  # the rest: declared defaults
    assert len(link.ignored) == 5
    by_key = {
        sentence.split("=")[0].removeprefix("The link's "): sentence for sentence in link.ignored
    }
    assert "from 1e-06 to 10; got 99" in by_key["learning_rate"]
    assert "layer widths like 128-64" in by_key["hidden_layers"]
    assert "no setting called 'colour'" in by_key["colour"]
    assert "from 0 to 2,147,483,647; got -1" in by_key["seed"]
    assert "whole number from 1 up, or all" in by_key["train_size"]


def test_a_link_to_an_unknown_model_is_ignored_whole():
    link = settings_from_query({"model": "transformer", "epochs": "3"})
    assert link.model is None and link.settings == {} and link.config() is None
    assert link.ignored == [
        "The link's settings were ignored: there is no model called 'transformer'; the models "
        f"are {', '.join(REGISTRY)}."
    ]
    assert "does not say which model" in settings_from_query({"epochs": "3"}).ignored[0]
    assert settings_from_query({}).ignored == []


def test_a_class_link_is_not_read_as_a_broken_run_link():
    assert settings_from_query({"learner": "abc", "join": "K7P2QX"}).ignored == []
    link = settings_from_query({"learner": "abc", "model": "scratch-linear", "epochs": "3"})
    assert link.ignored == [] and link.settings["epochs"] == 3


@pytest.fixture
def train_page(monkeypatch):
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    for variable in limits.ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)

    def open_with(query: dict[str, str]) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.query_params.update(query)
        at.run()
        at.switch_page("pages/train.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_with


def test_a_link_fills_in_the_train_page(train_page):
    at = train_page(
        {
            "model": "sklearn-mlp",
            "hidden_layers": "64-32",
            "activation": "tanh",
            "learning_rate": "0.003",  # not on the slider's 1-2-5 grid: kept, not moved
            "epochs": "4",
            "train_size": "1500",  # not one of the offered sizes: offered too
            "seed": "11",
        }
    )
    assert at.radio(key="train_family").value == "sklearn-mlp"
    assert at.text_input(key="train_sklearn-mlp_hidden_layers").value == "64-32"
    assert at.selectbox(key="train_sklearn-mlp_activation").value == "tanh"
    assert at.select_slider(key="train_sklearn-mlp_learning_rate").value == 0.003
    assert at.slider(key="train_sklearn-mlp_epochs").value == 4
    assert at.select_slider(key="train_sklearn-mlp_train_size").value == 1500
    assert at.number_input(key="train_sklearn-mlp_seed").value == 11
    assert not at.warning


def test_invalid_link_parameters_show_a_notice_and_keep_the_defaults(train_page):
    at = train_page({"model": "scratch-linear", "learning_rate": "50", "batch_size": "0"})
    notices = [warning.value for warning in at.warning]
    assert len(notices) == 2
    assert any("learning_rate=50 was ignored" in notice for notice in notices)
    assert any("batch_size=0 was ignored" in notice for notice in notices)
    assert at.select_slider(key="train_scratch-linear_learning_rate").value == 0.2  # default
    assert at.slider(key="train_scratch-linear_batch_size").value == 100


def test_a_trained_run_puts_its_settings_in_the_address(train_page):
    at = train_page({})
    at.radio(key="train_family").set_value("scratch-linear").run()
    at.select_slider(key="train_scratch-linear_train_size").set_value(1000)
    at.slider(key="train_scratch-linear_epochs").set_value(2)
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    query = {key: at.query_params[key] for key in at.query_params}
    flat = {key: value[0] if isinstance(value, list) else value for key, value in query.items()}
    assert flat["model"] == "scratch-linear" and flat["epochs"] == "2"
    assert flat["train_size"] == "1000"
    link = settings_from_query(flat)
    assert link.ignored == [] and link.settings["loss"] == "cross_entropy"
    assert any("train_size=1000" in code.value for code in at.code)


class NotTrained(ValueError):
    """What the stand-in for ``train`` raises once it has noted the run it was given."""


@pytest.fixture
def runs_asked_for(monkeypatch) -> list[RunConfig]:
    """The runs the Train page queues, which are not trained (some presets take hours)."""
    asked: list[RunConfig] = []

    class NotingQueue:
        """Stands in for the server's job queue: notes each run and refuses it."""

        def submit(self, visitor, spec):
            asked.append(RunConfig.from_dict(spec["config"]))
            raise NotTrained("not trained in this test")

    monkeypatch.setattr(mnistkit.ui.jobs, "shared_queue", NotingQueue)
    return asked


@pytest.mark.parametrize(("family", "preset"), presets())
def test_every_preset_through_a_link_is_recognised_and_trains_that_preset(
    family, preset, train_page, runs_asked_for, mnist_path, monkeypatch
):
    monkeypatch.setenv("MNISTKIT_DATA", str(mnist_path))  # presets may use all 60,000 digits
    expected = RunConfig.from_preset(family, preset, seed=5)
    at = train_page(settings_to_query(expected))
    assert not at.warning, [warning.value for warning in at.warning]
    assert at.radio(key="train_family").value == family
    assert at.selectbox(key=f"train_{family}_preset").value == preset
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert runs_asked_for == [expected]


@pytest.mark.slow
def test_the_article_through_a_link_reads_7447_of_the_real_test_digits(
    train_page, mnist_path, monkeypatch
):
    monkeypatch.setenv("MNISTKIT_DATA", str(mnist_path))
    at = train_page({"model": "scratch-linear", "preset": "article"})
    assert at.selectbox(key="train_scratch-linear_preset").value == "article"
    assert at.slider(key="train_scratch-linear_validation_share").value == 0.0
    finish_run(at.form_submit_button[0].click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    (trained,) = at.session_state[MODELS_KEY].values()
    assert trained.config == RunConfig.from_preset("scratch-linear", "article")
    assert trained.test_accuracy == 0.7447
    assert any(
        "· article preset · 74.5%** is ready: it reads 74.5% " in success.value
        for success in at.success
    )


def widget_extremes(at: AppTest, family: str, end: str) -> dict:
    """Each slider, select slider and number box of a family's form moved to one end of its range.

    Returns the values set, by setting name. Sliders and number boxes must span exactly the
    declared range; select sliders (learning rates, training digits) hold their values as text,
    so their ends are read from the declaration and the offered sizes.
    """
    chosen = {}
    for name, declaration in declarations(family).items():
        key = f"train_{family}_{name}"
        for kind in ("slider", "number_input", "select_slider"):
            widgets = [widget for widget in getattr(at, kind) if widget.key == key]
            if not widgets:
                continue
            (widget,) = widgets
            if kind == "select_slider" and name == "train_size":  # 0 is "all": the high end
                value = int(widget.options[0].replace(",", "")) if end == "low" else 0
            elif kind == "select_slider":
                value = declaration.low if end == "low" else declaration.high
            else:
                assert (widget.min, widget.max) == (declaration.low, declaration.high), name
                value = widget.min if end == "low" else widget.max
            widget.set_value(value)
            chosen[name] = None if name == "train_size" and value == 0 else value
    return chosen


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.parametrize("family", keras_slow(list(REGISTRY)))
def test_every_slider_extreme_is_a_run_the_train_button_accepts(
    family, end, train_page, runs_asked_for, mnist_path, monkeypatch
):
    monkeypatch.setenv("MNISTKIT_DATA", str(mnist_path))  # all 60,000 digits x the most epochs
    at = train_page({})
    at.radio(key="train_family").set_value(family).run()
    chosen = widget_extremes(at, family, end)
    assert {"epochs", "train_size", "seed", "validation_share"} <= set(chosen)
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [error.value for error in at.error]
    assert errors == ["Training could not start: not trained in this test"]
    (config,) = runs_asked_for
    assert {name: config.settings()[name] for name in chosen} == chosen
