"""Shareable runs: the Train page's settings in a link, read back safely."""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mnistkit.links import settings_from_query, settings_to_query
from mnistkit.models import REGISTRY
from mnistkit.training import RunConfig


def configs() -> list[RunConfig]:
    """Every model's defaults and every preset, with a size and seed of their own."""
    runs = [RunConfig(model=name, train_size=2000, seed=7) for name in REGISTRY]
    for name, model_class in REGISTRY.items():
        runs += [RunConfig.from_preset(name, preset, seed=3) for preset in model_class.presets]
    return runs


@pytest.mark.parametrize("config", configs(), ids=lambda config: config.model)
def test_a_link_gives_back_exactly_the_settings_it_was_made_from(config):
    link = settings_from_query(settings_to_query(config))
    assert link.ignored == []
    rebuilt = RunConfig(
        model=link.model,
        hyperparameters=link.hyperparameters,
        train_size=link.train_size,
        seed=link.seed,
        validation_share=config.validation_share,  # not part of a link
    )
    assert rebuilt == config


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
    assert link.model == "sklearn-mlp" and link.hyperparameters == {"epochs": 3}
    assert link.train_size is None and link.seed is None
    assert len(link.ignored) == 5
    by_key = {
        sentence.split("=")[0].removeprefix("The link's "): sentence for sentence in link.ignored
    }
    assert "from 1e-06 to 10; got 99" in by_key["learning_rate"]
    assert "layer widths like 128-64" in by_key["hidden_layers"]
    assert "no setting called 'colour'" in by_key["colour"]
    assert "from 0 up" in by_key["seed"] and "whole number" in by_key["train_size"]


def test_a_link_to_an_unknown_model_is_ignored_whole():
    link = settings_from_query({"model": "transformer", "epochs": "3"})
    assert link.model is None and link.hyperparameters == {}
    assert link.ignored == [
        "The link's settings were ignored: there is no model called 'transformer'; the models "
        "are scratch-linear, sklearn-mlp, keras-mlp, keras-cnn."
    ]
    assert "does not say which model" in settings_from_query({"epochs": "3"}).ignored[0]
    assert settings_from_query({}).ignored == []


@pytest.fixture
def train_page(monkeypatch):
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)

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
    assert link.ignored == [] and link.hyperparameters["loss"] == "cross_entropy"
    assert any("train_size=1000" in code.value for code in at.code)
