"""A run that ends near chance is called a failure, with its likely cause, everywhere it shows.

Collapsed runs are real ones: scikit-learn's MLP at a learning rate of 10, scored on the real
MNIST test digits (library and command line) or on the bundled sample (the pages).
"""

from __future__ import annotations

import contextlib
import io

import pytest
from conftest import ROOT
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

from mnistkit import plots
from mnistkit.cli import main
from mnistkit.evaluation import CHANCE, chance_verdict, no_better_than_chance
from mnistkit.training import RunConfig, settings_used, train

PHRASE = "reads no better than chance"
TOO_HIGH = "the learning rate (10) is too high for this model"


@pytest.fixture(scope="module")
def collapsed(mnist):
    """scikit-learn's MLP at learning rate 10 on 10,000 real training digits, 2 epochs."""
    config = RunConfig(
        model="sklearn-mlp", hyperparameters={"learning_rate": 10.0}, train_size=10_000, epochs=2
    )
    return train(config, mnist)


def test_a_collapsed_run_is_called_no_better_than_chance_with_its_cause(collapsed):
    assert collapsed.test_accuracy < 2 * CHANCE  # on the 10,000 real test digits
    verdict = chance_verdict(collapsed)
    assert verdict is not None
    assert PHRASE in verdict and TOO_HIGH in verdict
    assert f"{100 * collapsed.test_accuracy:.1f}%" in verdict and "0.001" in verdict  # the default


def test_a_run_that_learned_is_not_judged(mnist):
    article = train(RunConfig.from_preset("scratch-linear", "article"), mnist)
    assert article.test_accuracy == pytest.approx(0.7447)  # the article's own figure
    assert chance_verdict(article) is None


def test_the_likely_cause_follows_the_run():
    flat = [{"loss": 2.30}, {"loss": 2.29}]
    low = no_better_than_chance(0.11, flat, learning_rate=1e-6, default_learning_rate=1e-3)
    assert PHRASE in low and "too low" in low and "2 epochs" in low
    rising = no_better_than_chance(0.12, [{"loss": 2.3}, {"loss": 9.0}], learning_rate=0.01)
    assert "too high" in rising  # the loss rose: overshooting, whatever the default
    short = no_better_than_chance(0.15, [{"loss": 2.3}])
    assert "more epochs or more training digits" in short
    assert no_better_than_chance(0.2, flat) is None  # twice chance: it learned something
    assert no_better_than_chance(None, flat) is None  # no test digits, no judgement


def test_the_command_line_says_so(mnist_path, tmp_path):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            ["train", "--model", "sklearn-mlp", "--set", "learning_rate=10", "--train-size",
             "10000", "--epochs", "2", "--data", str(mnist_path), "--out",
             str(tmp_path / "collapsed.skops")]
        )  # fmt: skip
    assert code == 0  # the model is still saved: a teacher may want to show it
    (line,) = [line for line in stdout.getvalue().splitlines() if PHRASE in line]
    assert line.startswith("warning: ") and TOO_HIGH in line
    evaluated = io.StringIO()
    with contextlib.redirect_stdout(evaluated):
        code = main(["evaluate", str(tmp_path / "collapsed.skops"), "--data", str(mnist_path)])
    assert code == 0
    (line,) = [line for line in evaluated.getvalue().splitlines() if PHRASE in line]
    assert line.startswith("warning: ") and TOO_HIGH in line  # said again when evaluated


def test_accuracy_axes_start_at_zero_and_mark_chance():
    history = [
        {"loss": 9.0, "train_accuracy": 0.102, "validation_accuracy": 0.112, "seconds": 1.0},
        {"loss": 9.5, "train_accuracy": 0.104, "validation_accuracy": 0.110, "seconds": 2.0},
    ]
    for figure, axis in (
        (plots.training_figure(history), "yaxis2"),
        (plots.per_class_figure([0.95] * 10, [0.93] * 10, [0.94] * 10), "yaxis"),
        (plots.learning_curve_figure([500, 5000], [0.8, 0.9], [0.04, 0.4]), "yaxis"),
    ):
        layout = figure.to_dict()["layout"]
        assert layout[axis]["range"][0] == 0
        chance = [shape for shape in layout["shapes"] if shape.get("y0") == 10]
        assert chance, "no line at chance level (10%)"
        assert any("chance" in note["text"] for note in layout["annotations"])


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()


def train_on_the_page(at: AppTest, family: str, learning_rate=None, size=1000, epochs=2):
    at.switch_page("pages/train.py").run()
    at.radio(key="train_family").set_value(family).run()
    at.select_slider(key=f"train_{family}_train_size").set_value(size)
    at.slider(key=f"train_{family}_epochs").set_value(epochs)
    if learning_rate is not None:
        at.select_slider(key=f"train_{family}_learning_rate").set_value(learning_rate)
    finish_run(at.form_submit_button[0].click().run())
    assert not at.exception, [e.value for e in at.exception]


def test_the_train_page_calls_a_collapsed_run_a_failure(app):
    train_on_the_page(app, "sklearn-mlp", learning_rate=10.0, size=0)
    (trained,) = app.session_state["mnistkit_models"].values()
    errors = " ".join(e.value for e in app.error)
    assert PHRASE in errors and TOO_HIGH in errors
    assert not [s for s in app.success if "is ready" in s.value]  # no green box for a failure
    assert settings_used(trained.config) in " ".join(c.value for c in app.caption)


def test_a_collapsed_model_is_never_the_default_but_stays_in_the_list_marked(app):
    train_on_the_page(app, "scratch-linear")
    train_on_the_page(app, "sklearn-mlp", learning_rate=10.0, size=0)  # newest, but failed
    good, failed = app.session_state["mnistkit_models"]
    for page in ("evaluate", "draw"):
        app.switch_page(f"pages/{page}.py").run()
        picker = app.selectbox[0]
        assert picker.value == good  # the newest model that learned
        assert failed in picker.options[1] and PHRASE in picker.options[1]  # listed, marked
        picker.set_value(failed).run()
        assert not app.exception
        assert any(PHRASE in w.value for w in app.warning)  # chosen by hand: said again
        picker.set_value(good).run()
