"""The Compare page's experiments: the article walkthrough, learning curves, disagreements."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from test_models import ARTICLE_FIRST_PREDICTION

from mnistkit import experiments
from mnistkit.data import load_mnist
from mnistkit.models import build_model
from mnistkit.training import RunConfig


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample")


@pytest.mark.slow
def test_walkthrough_first_row_equals_the_article_preset_from_the_command_line(
    mnist, mnist_path, tmp_path
):
    command = [sys.executable, "-m", "mnistkit", "train", "--model", "scratch-linear"]
    command += ["--preset", "article", "--data", str(mnist_path), "--out", str(tmp_path / "a.npz")]
    printed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    cli_accuracy = float(re.search(r"test accuracy: (\d\.\d{4})", printed).group(1))
    (first,) = experiments.walkthrough(mnist, steps=experiments.WALKTHROUGH[:1])
    assert first.train_size == 1000
    assert f"{first.test_accuracy:.4f}" == f"{cli_accuracy:.4f}" == "0.7447"


def test_the_article_first_image_scores_are_the_ones_it_prints(mnist):
    scores = experiments.article_first_image(mnist)
    np.testing.assert_allclose(scores, ARTICLE_FIRST_PREDICTION, rtol=1e-12, atol=0)


def test_each_linear_step_changes_only_what_it_names():
    configs = [step.config(60_000) for step in experiments.WALKTHROUGH[:5]]
    changed = []
    for before, after in zip(configs, configs[1:], strict=False):
        names = {
            k
            for k in before.hyperparameters
            if before.hyperparameters[k] != after.hyperparameters[k]
        }
        if before.train_size != after.train_size:
            names.add("train_size")
        changed.append(names)
    assert changed == [
        {"input_scaling", "learning_rate"},  # scaled inputs need a bigger step
        {"loss", "learning_rate"},
        {"batch_size", "shuffle", "learning_rate"},
        {"train_size"},  # all the training images
    ]
    assert all(config.epochs == 5 for config in configs)
    assert [s.config(60_000).model for s in experiments.WALKTHROUGH[5:]] == [
        "sklearn-mlp",
        "keras-mlp",
        "keras-cnn",
    ]
    assert experiments.WALKTHROUGH[-1].title == "8. Convolutions (Keras)"


def test_walkthrough_steps_fit_a_smaller_data_set(sample):
    sizes = [step.config(len(sample.y_train)).train_size for step in experiments.WALKTHROUGH]
    assert sizes[:4] == [1000] * 4 and sizes[4:] == [None] * 4  # None: every image


def test_walkthrough_trains_a_step_only_when_its_result_is_asked_for(sample, monkeypatch):
    started = []
    results = experiments.walkthrough(
        sample, on_start=lambda index, step, config: started.append(index)
    )
    first = next(results)
    assert started == [0] and first.label == experiments.WALKTHROUGH[0].title
    second = next(results)
    results.close()  # stopped here: the later steps are never trained
    assert started == [0, 1]
    assert second.test_accuracy > first.test_accuracy  # scaled inputs help on the sample too
    resumed = list(experiments.walkthrough(sample, steps=experiments.WALKTHROUGH[:3], skip=2))
    assert [r.label for r in resumed] == [experiments.WALKTHROUGH[2].title]


def test_curve_sizes_end_with_every_image():
    assert experiments.curve_sizes(60_000) == [500, 1_000, 5_000, 20_000, 60_000]
    assert experiments.curve_sizes(6_000) == [500, 1_000, 5_000, 6_000]
    assert experiments.curve_sizes(800) == [500, 800]


def test_learning_curve_skips_sizes_done_and_more_data_helps(mnist):
    config = RunConfig(model="scratch-linear", epochs=3)
    small, large = experiments.learning_curve(config, mnist, [300, 10_000])
    assert (small.train_size, large.train_size) == (300, 10_000)
    assert small.trained.config.train_size == 300
    assert large.test_accuracy > small.test_accuracy + 0.03
    again = list(experiments.learning_curve(config, mnist, [300, 10_000], done=(300,)))
    assert [r.train_size for r in again] == [10_000]
    assert again[0].test_accuracy == large.test_accuracy  # same settings and seed: same model


def test_disagreements_are_exactly_the_digits_answered_differently(sample):
    images, labels = sample.x_train[:1500], sample.y_train[:1500]
    models = {
        "linear": build_model("scratch-linear", epochs=2, random_state=0).fit(images, labels),
        "mlp": build_model("sklearn-mlp", hidden_layers=(32,), epochs=2, random_state=0).fit(
            images, labels
        ),
    }
    predictions = {name: model.predict(sample.x_test) for name, model in models.items()}
    found = experiments.disagreements(predictions, sample.y_test)
    differ = np.flatnonzero(predictions["linear"] != predictions["mlp"])
    assert sorted(d.index for d in found) == differ.tolist() and len(found) > 0
    first = found[0]
    assert first.true == sample.y_test[first.index]
    assert first.answers == {name: int(p[first.index]) for name, p in predictions.items()}
    assert experiments.disagreements({"alone": predictions["mlp"]}, sample.y_test) == []


def test_three_way_disagreements_come_first():
    labels = np.array([1, 2, 3, 4])
    predictions = {
        "a": np.array([1, 2, 3, 4]),
        "b": np.array([1, 5, 3, 6]),
        "c": np.array([1, 5, 3, 7]),
    }
    found = experiments.disagreements(predictions, labels)
    assert [d.index for d in found] == [3, 1]  # 4/6/7 splits three ways, 2/5/5 two


def test_nearest_training_digits_are_the_closest_pixel_by_pixel(mnist):
    train = mnist.x_train[:3000]
    query = mnist.x_test[0]
    nearest = experiments.nearest_training_digits(query, train, count=5, chunk=700)
    distances = ((train.reshape(3000, -1).astype(float) - query.reshape(-1)) ** 2).sum(axis=1)
    assert nearest.tolist() == np.argsort(distances, kind="stable")[:5].tolist()
    assert experiments.nearest_training_digits(train[42], train, count=1).tolist() == [42]
    assert (mnist.y_train[nearest] == mnist.y_test[0]).mean() >= 0.8  # neighbours share a label


def test_result_reports_its_run(sample):
    (result,) = experiments.learning_curve(
        RunConfig(model="scratch-linear", epochs=1), sample, [500]
    )
    assert result.seconds == result.trained.seconds > 0
    assert dataclasses.replace(result.trained.config, train_size=500) == result.trained.config
