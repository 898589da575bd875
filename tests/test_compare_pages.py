"""The Compare page, run headless with AppTest on the bundled sample."""

from __future__ import annotations

import pytest
from conftest import sample_app
from job_helpers import rerun_until
from streamlit.testing.v1 import AppTest

from mnistkit import experiments
from mnistkit.training import RunConfig, train
from mnistkit.ui.compare import CURVE_KEY, WALK_KEY
from mnistkit.ui.jobs import SERIES_KEY
from mnistkit.ui.state import MODELS_KEY

SOURCE_PAGE = "pages/compare.py"


@pytest.fixture
def app(monkeypatch) -> AppTest:
    at = sample_app(monkeypatch)
    at.switch_page(SOURCE_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def untrained(app) -> AppTest:
    """The page on a server that has trained nothing yet, as after a restart.

    The queue hands out an identical finished run at once (a class's second walkthrough is
    ready in a second); without this, an earlier test's steps would be reused and no step of
    this one would ever be under way.
    """
    from mnistkit.jobs.store import RunStore
    from mnistkit.ui import jobs

    jobs.shared_queue().store = RunStore()
    return app


def open_tab(at: AppTest, label: str) -> AppTest:
    """Choose a tab, as a click on it does (only the open tab's content runs)."""
    at.session_state["compare_tab"] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [*at.info, *at.caption, *at.markdown]
    return "\n".join(str(part.value) for part in parts)


def walk_results(at: AppTest, sample) -> list:
    (results,) = at.session_state[WALK_KEY].values()  # one data set: the app's sample
    return results


def series_done(at: AppTest) -> bool:
    """No series of Compare runs under way any more (finished, stopped or refused)."""
    return SERIES_KEY not in at.session_state


@pytest.mark.slow
def test_the_walkthrough_trains_each_step_in_a_worker_and_starts_at_the_article(untrained, sample):
    app = untrained
    app.button(key="walk_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Now training 1. The article" in texts(app)  # queued like a Train run, with progress
    rerun_until(app, series_done, timeout=900)
    table = app.dataframe[0].value
    assert list(table["step"]) == [step.title for step in experiments.WALKTHROUGH]
    article = train(RunConfig.from_preset("scratch-linear", "article"), sample)
    assert table["test accuracy (%)"][0] == pytest.approx(100 * article.test_accuracy)
    assert table["training images"][0] == 1000 and table["training images"][6] == 6000
    assert app.button(key="walk_start").disabled  # nothing left to run
    assert MODELS_KEY not in app.session_state or not app.session_state[MODELS_KEY]  # not theirs
    shown = app.code[0].value
    assert shown.startswith("[0.0, ")  # the first row of weights starts at 0 and never moves


@pytest.mark.slow
def test_stopping_the_walkthrough_keeps_the_steps_already_trained(untrained, sample):
    app = untrained
    app.button(key="walk_start").click().run()
    # two steps kept and a later one under way, with its Stop button (shown while it runs)
    rerun_until(
        app,
        lambda at: len(walk_results(at, sample)) >= 2 and "job_stop" in [b.key for b in at.button],
    )
    app.button(key="job_stop").click().run()  # Stop under the run's progress bar
    assert series_done(app)
    kept = list(walk_results(app, sample))
    assert 2 <= len(kept) < len(experiments.WALKTHROUGH)
    assert [r.label for r in kept] == [s.title for s in experiments.WALKTHROUGH[: len(kept)]]
    assert "every run that had finished is kept" in texts(app)
    app.run()  # the page as it shows after the stop
    assert len(app.dataframe[0].value) == len(kept)
    assert app.button(key="walk_start").label == "Run the remaining steps"
    app.button(key="walk_start").click().run()
    rerun_until(app, series_done, timeout=900)
    finished = walk_results(app, sample)
    assert len(finished) == len(experiments.WALKTHROUGH)
    assert finished[: len(kept)] == kept  # the same trained models, not retrained
    app.button(key="walk_reset").click().run()
    assert walk_results(app, sample) == []


@pytest.mark.slow
def test_the_learning_curve_trains_each_size_and_keeps_them(untrained, sample):
    app = untrained
    open_tab(app, "Learning curves")
    assert "walk_start" not in [b.key for b in app.button]  # a closed tab does no work
    app.selectbox(key="curve_settings").set_value("Linear net (NumPy): default settings").run()
    app.button(key="curve_start").click().run()
    rerun_until(app, series_done)
    ((settings, _), points), *others = app.session_state[CURVE_KEY].items()
    assert settings == "Linear net (NumPy): default settings" and not others
    assert sorted(points) == [500, 1000, 5000, 6000]
    assert points[6000].test_accuracy > points[500].test_accuracy
    charts = app.get("plotly_chart")
    assert any("Training images (log scale)" in chart.proto.spec for chart in charts)
    assert app.button(key="curve_start").disabled


def test_the_learning_curve_offers_the_settings_of_the_visitors_models(app, sample):
    trained = train(RunConfig(model="scratch-linear", epochs=1, train_size=600), sample)
    app.session_state["mnistkit_models"] = {"my linear net": trained}
    open_tab(app, "Learning curves")
    options = app.selectbox(key="curve_settings").options
    assert "the settings of my linear net" in options
    assert "Linear net (NumPy): preset article" in options


def test_disagreements_list_the_digits_and_their_nearest_training_digits(app, sample):
    open_tab(app, "Where the models disagree")
    assert "Train at least two models" in app.info[0].value
    linear = train(RunConfig(model="scratch-linear", epochs=1, train_size=1000), sample)
    mlp = train(
        RunConfig(model="sklearn-mlp", hyperparameters={"hidden_layers": (32,)}, epochs=2), sample
    )
    app.session_state["mnistkit_models"] = {"linear": linear, "mlp": mlp}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    expected = experiments.disagreements(
        {"linear": linear.predict(sample.x_test), "mlp": mlp.predict(sample.x_test)}, sample.y_test
    )
    text = " ".join(markdown.value for markdown in app.markdown)
    assert f"disagree on **{len(expected):,}** of the 1,000 test digits" in text
    chosen = app.selectbox(key="disagreement").value
    assert chosen.index == expected[0].index
    nearest = experiments.nearest_training_digits(sample.x_test[chosen.index], sample.x_train)
    captions = [caption for image in app.image for caption in image.captions]
    assert [f"{sample.y_train[i]} · #{i}" for i in nearest] == captions[-len(nearest) :]
