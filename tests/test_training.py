"""Training runs: checked settings, per-epoch progress, stopping, divergence and repeatability.

The tests marked slow train each model's defaults on the full training set and hold them to the
accuracy the project promises.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mnistkit.models import HyperparameterError, UnknownModelError, build_model
from mnistkit.training import (
    STOP,
    RunConfig,
    RunConfigError,
    TrainedModel,
    TrainingDiverged,
    train,
)

# --- RunConfig --------------------------------------------------------------------------------


def test_a_config_fills_in_the_model_defaults():
    config = RunConfig("sklearn-mlp", {"hidden_layers": [64]})
    assert config.hyperparameters["hidden_layers"] == (64,)
    assert config.hyperparameters["solver"] == "adam"
    assert "epochs" not in config.hyperparameters
    assert config.epochs == 12  # the model's declared default
    assert (config.train_size, config.seed, config.validation_share) == (None, 0, 0.1)


def test_a_config_is_frozen_and_hashable():
    config = RunConfig("scratch-linear", {"learning_rate": 0.1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(TypeError):
        config.hyperparameters["learning_rate"] = 1.0
    same = RunConfig("scratch-linear", {"learning_rate": 0.1, "loss": "cross_entropy"})
    assert config == same and hash(config) == hash(same)
    assert config != dataclasses.replace(config, seed=1)


def test_epochs_may_be_given_as_a_hyperparameter_but_not_twice():
    assert RunConfig("scratch-linear", {"epochs": 3}).epochs == 3
    with pytest.raises(RunConfigError, match="epochs is given twice"):
        RunConfig("scratch-linear", {"epochs": 3}, epochs=4)


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"model": "resnet"}, UnknownModelError, "no model called 'resnet'"),
        ({"hyperparameters": {"learning_rate": 100.0}}, HyperparameterError, "learning_rate"),
        ({"hyperparameters": {"size": 3}}, HyperparameterError, "no setting called 'size'"),
        ({"epochs": 0}, HyperparameterError, "epochs must be from 1 to 50"),
        ({"epochs": 51}, HyperparameterError, "epochs must be from 1 to 50"),
        ({"train_size": 0}, RunConfigError, "at least 1 image"),
        ({"train_size": 10.5}, RunConfigError, "whole number of images"),
        ({"seed": -1}, RunConfigError, "seed must be a whole number"),
        ({"validation_share": 0.5}, RunConfigError, "validation_share must be from 0"),
        ({"validation_share": -0.1}, RunConfigError, "validation_share must be from 0"),
    ],
)
def test_impossible_settings_are_refused_with_a_sentence(changes, error, words):
    settings = {"model": "scratch-linear", **changes}
    with pytest.raises(error, match=words):
        RunConfig(**settings)
    assert issubclass(error, ValueError)


def test_a_config_survives_json():
    config = RunConfig("keras-mlp", {"hidden_layers": (128, 64)}, train_size=500, seed=3)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(RunConfigError, match="Unknown run settings: colour"):
        RunConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_presets_become_configs_and_are_recognised():
    config = RunConfig.from_preset("scratch-linear", "article")
    assert (config.train_size, config.epochs, config.validation_share) == (1000, 5, 0.0)
    assert config.hyperparameters["learning_rate"] == 1e-7
    assert config.preset() == "article"
    assert dataclasses.replace(config, seed=5).preset() == "article"
    assert dataclasses.replace(config, epochs=6).preset() is None
    assert RunConfig.from_preset("keras-mlp", "article-004").validation_share == 0.1
    with pytest.raises(RunConfigError, match="its presets are: article, article-all-images"):
        RunConfig.from_preset("scratch-linear", "fast")


# --- train ------------------------------------------------------------------------------------


def test_the_article_preset_trains_to_the_articles_accuracy(mnist):
    trained = train(RunConfig.from_preset("scratch-linear", "article"), mnist)
    assert trained.test_accuracy == 0.7447
    assert trained.name == "Linear net (NumPy) · article preset · 74.5%"
    assert [entry["epoch"] for entry in trained.history] == [1, 2, 3, 4, 5]
    assert all(entry["validation_accuracy"] is None for entry in trained.history)
    assert trained.seconds < 10
    assert not trained.stopped_early


def test_train_uses_the_first_images_and_keeps_the_last_share_for_validation(mnist):
    config = RunConfig("scratch-linear", train_size=800, epochs=2, validation_share=0.25, seed=4)
    trained = train(config, mnist)
    by_hand = build_model("scratch-linear", epochs=2, random_state=4)
    by_hand.fit(mnist.x_train[:600], mnist.y_train[:600])
    np.testing.assert_array_equal(trained.model.coef_, by_hand.coef_)
    validation = np.mean(by_hand.predict(mnist.x_train[600:800]) == mnist.y_train[600:800])
    assert trained.history[-1]["validation_accuracy"] == validation
    test = np.mean(by_hand.predict(mnist.x_test) == mnist.y_test)
    assert trained.test_accuracy == test


def test_each_epoch_is_reported_with_its_metrics(mnist):
    reports = []
    config = RunConfig("scratch-linear", train_size=1000, epochs=3)
    trained = train(config, mnist, on_epoch=lambda epoch, metrics: reports.append((epoch, metrics)))
    assert [epoch for epoch, _ in reports] == [1, 2, 3]
    for (epoch, metrics), entry in zip(reports, trained.history, strict=True):
        assert set(metrics) == {"loss", "train_accuracy", "validation_accuracy", "seconds"}
        assert entry == {"epoch": epoch, **metrics}
        assert 0 <= metrics["train_accuracy"] <= 1 and 0 <= metrics["validation_accuracy"] <= 1
    assert trained.model.loss_curve_ == [metrics["loss"] for _, metrics in reports]
    seconds = [metrics["seconds"] for _, metrics in reports]
    assert seconds == sorted(seconds) and seconds[-1] <= trained.seconds


def test_stop_ends_the_run_and_keeps_a_usable_model(mnist):
    config = RunConfig("scratch-linear", train_size=1000, epochs=5)
    trained = train(config, mnist, on_epoch=lambda epoch, metrics: STOP if epoch == 2 else None)
    assert trained.stopped_early
    assert len(trained.history) == 2 and len(trained.model.loss_curve_) == 2
    assert trained.predict(mnist.x_test[:10]).shape == (10,)
    assert trained.predict_proba(mnist.x_test[:10]).shape == (10, 10)


def test_a_diverging_run_raises_and_yields_no_model(mnist):
    reports = []
    config = RunConfig(
        "scratch-linear",
        {"learning_rate": 10.0, "input_scaling": "raw", "loss": "squared_error"},
        train_size=2000,
        epochs=5,
    )
    with pytest.raises(TrainingDiverged) as raised:
        train(config, mnist, on_epoch=lambda epoch, metrics: reports.append(epoch))
    message = str(raised.value)
    assert message.startswith("Training diverged: the loss became")
    assert "The learning rate (10) is probably too high; try a smaller one." in message
    assert f"at epoch {len(reports) + 1}." in message


def test_too_many_training_images_are_refused(mnist):
    with pytest.raises(RunConfigError, match="only 60,000 training images"):
        train(RunConfig("scratch-linear", train_size=60_001), mnist)


@pytest.mark.parametrize("model", ["scratch-linear", "sklearn-mlp"])
def test_same_seed_same_run(model, mnist):
    settings = {"hidden_layers": (32,)} if model == "sklearn-mlp" else {}
    config = RunConfig(model, settings, train_size=1500, epochs=2, seed=11)
    first, again = train(config, mnist), train(config, mnist)
    assert without_times(first.history) == without_times(again.history)
    np.testing.assert_array_equal(
        first.model.predict_proba(mnist.x_test), again.predict_proba(mnist.x_test)
    )
    other = train(dataclasses.replace(config, seed=12), mnist)
    assert other.model.loss_curve_ != first.model.loss_curve_


def test_a_trained_model_carries_what_repeats_it(mnist):
    config = RunConfig("sklearn-mlp", {"hidden_layers": (16,)}, train_size=600, epochs=2)
    trained = train(config, mnist)
    assert isinstance(trained, TrainedModel)
    assert trained.config == config
    assert trained.name == f"scikit-learn MLP 16 · {trained.test_accuracy:.1%}"
    again = train(RunConfig.from_dict(trained.config.to_dict()), mnist)
    assert without_times(again.history) == without_times(trained.history)


def without_times(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "seconds"} for entry in history]


# --- the promised accuracies, on the full training set ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "promised"),
    [("scratch-linear", 0.92), ("sklearn-mlp", 0.975), ("keras-mlp", 0.98), ("keras-cnn", 0.99)],
)
def test_defaults_reach_the_promised_test_accuracy(model, promised, mnist):
    trained = train(RunConfig(model), mnist)
    assert trained.test_accuracy >= promised, trained.name
    assert len(trained.history) == trained.config.epochs
