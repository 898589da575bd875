"""The leaderboard: every model on the same test digits, the best of each column marked."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mnistkit.data import load_mnist
from mnistkit.evaluation import LEADERBOARD_COLUMNS, best_in_each_column, evaluate, leaderboard
from mnistkit.training import RunConfig, train


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample")


@pytest.fixture(scope="module")
def two_models(sample):
    """A quick linear net and a stronger, bigger MLP, trained on the bundled sample."""
    linear = train(RunConfig(model="scratch-linear", epochs=1, train_size=1000), sample)
    mlp = train(
        RunConfig(model="sklearn-mlp", hyperparameters={"hidden_layers": (64,)}, epochs=4), sample
    )
    return {"linear": linear, "mlp": mlp}


def test_rows_hold_each_models_scores(sample, two_models):
    evaluations = {
        n: evaluate(t.model, sample.x_test, sample.y_test) for n, t in two_models.items()
    }
    rows = leaderboard([(n, t, evaluations[n]) for n, t in two_models.items()])
    assert [row["model"] for row in rows] == ["linear", "mlp"]
    for row, (name, trained) in zip(rows, two_models.items(), strict=True):
        predictions = trained.model.predict(sample.x_test)
        assert row["test accuracy (%)"] == pytest.approx(
            100 * np.mean(predictions == sample.y_test)
        )
        assert row["parameters"] == trained.model.count_parameters()
        assert row["training time (s)"] == trained.seconds
        for digit in range(10):
            assert row[f"F1 of {digit} (%)"] == pytest.approx(100 * evaluations[name].f1[digit])
    assert rows[0]["parameters"] == 7850 and rows[1]["parameters"] == 784 * 64 + 64 + 64 * 10 + 10
    assert set(LEADERBOARD_COLUMNS) < set(rows[0])


def test_best_is_highest_accuracy_and_lowest_cost(sample, two_models):
    evaluations = {
        n: evaluate(t.model, sample.x_test, sample.y_test) for n, t in two_models.items()
    }
    rows = leaderboard([(n, t, evaluations[n]) for n, t in two_models.items()])
    best = best_in_each_column(rows)
    assert rows[1]["test accuracy (%)"] > rows[0]["test accuracy (%)"]  # the MLP reads better
    assert best["test accuracy (%)"] == [1]
    assert best["parameters"] == [0]  # the linear net is far smaller
    quicker = int(rows[1]["training time (s)"] < rows[0]["training time (s)"])
    assert best["training time (s)"] == [quicker]
    tie = best_in_each_column([{**rows[0]}, {**rows[0], "model": "copy"}])
    assert tie["test accuracy (%)"] == [0, 1]  # equal values share the mark
    assert best_in_each_column([]) == {}


def test_the_evaluate_page_shows_the_leaderboard_with_the_best_marked(
    monkeypatch, sample, two_models
):
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.session_state["mnistkit_models"] = dict(two_models)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    overall, by_digit = at.dataframe[-2:]
    table = overall.value
    assert list(table["model"]) == ["linear", "mlp"]
    expected = [100 * t.test_accuracy for t in two_models.values()]
    assert list(table["test accuracy (%)"]) == pytest.approx(expected, abs=0.1)
    assert "background-color: #dbe7d3" in overall.proto.arrow_data.styler.styles  # best shaded
    f1 = by_digit.value  # the ten F1 columns have a table of their own, digits as column names
    assert list(f1.columns) == ["model", *map(str, range(10))]
    evaluation = evaluate(two_models["mlp"].model, sample.x_test, sample.y_test)
    assert list(f1.iloc[1, 1:]) == pytest.approx(100 * evaluation.f1, abs=0.01)
    assert "background-color: #dbe7d3" in by_digit.proto.arrow_data.styler.styles
    (digits,) = at.table  # the picked model digit by digit: all ten digits across
    assert list(digits.value.columns) == list(map(str, range(10)))
    assert list(digits.value.index) == [
        "test digits",
        "read right",
        "precision (%)",
        "recall (%)",
        "F1 (%)",
    ]
    assert sum(int(count.replace(",", "")) for count in digits.value.iloc[0]) == len(sample.y_test)
    assert "Shaded: the best of each column" in " ".join(c.value for c in at.caption)
