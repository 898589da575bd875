"""Training runs: checked settings, per-epoch progress, stopping, divergence and repeatability.

The tests marked slow train each model's defaults on the full training set and hold them to the
accuracy the project promises.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import PROMISED_ACCURACY

from mnistkit.models import REGISTRY, HyperparameterError, UnknownModelError, build_model
from mnistkit.training import (
    RUN_SETTINGS,
    STOP,
    RunConfig,
    RunConfigError,
    TrainedModel,
    TrainingDiverged,
    declarations,
    preset_settings,
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


def test_epochs_may_be_given_with_the_models_settings_but_not_twice():
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
        (
            {"train_size": 0},
            RunConfigError,
            "train_size must be a whole number from 1 up, or all; got 0",
        ),
        ({"train_size": 10.5}, HyperparameterError, "train_size must be a whole number"),
        ({"seed": -1}, HyperparameterError, "seed must be a whole number from 0 to 2,147,483,647"),
        ({"validation_share": 0.5}, HyperparameterError, "validation_share must be from 0 to 0.4"),
        ({"validation_share": -0.1}, HyperparameterError, "validation_share must be from 0 to"),
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


def test_each_setting_is_declared_once_and_every_run_has_them_all():
    for family, model_class in REGISTRY.items():
        known = declarations(family)
        assert list(known) == [h.name for h in model_class.hyperparameters] + list(RUN_SETTINGS)
        assert "epochs" in known  # the model declares it: its default and range are the model's
        config = RunConfig(family)
        assert list(config.settings()) == list(known)
        assert config.settings() == {name: h.default for name, h in known.items()}
        assert RunConfig.from_settings(family, config.settings()) == config
    with pytest.raises(RunConfigError, match="no setting called 'colour'"):
        RunConfig.from_settings("scratch-linear", {"colour": "red"})


def test_a_preset_is_its_settings_over_the_declared_defaults():
    settings = preset_settings("scratch-linear", "article")
    assert (settings["train_size"], settings["epochs"], settings["validation_share"]) == (
        1000,
        5,
        0.0,
    )
    assert settings["seed"] == 0 and settings["learning_rate"] == 1e-7
    defaults = preset_settings("keras-mlp", "article-003")
    assert defaults["train_size"] is None and defaults["validation_share"] == 0.1  # not set
    assert preset_settings("sklearn-mlp", None) == RunConfig("sklearn-mlp").settings()
    for family, model_class in REGISTRY.items():
        for preset in model_class.presets:
            config = RunConfig.from_preset(family, preset, seed=4)
            assert config.settings() == preset_settings(family, preset) | {"seed": 4}
            assert config.preset() == preset


def test_python_trains_anything_a_model_declares_whatever_the_servers_caps(mnist, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_IMAGES_PER_RUN", "10")  # a tiny server cap: not the library's
    largest = RunConfig("keras-mlp", train_size=60_000, epochs=100)
    assert (largest.train_size, largest.epochs) == (60_000, 100)
    trained = train(RunConfig("scratch-linear", train_size=1000, epochs=2), mnist)
    assert len(trained.history) == 2 and trained.test_accuracy > 0.5


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
@pytest.mark.parametrize("model", PROMISED_ACCURACY)
def test_defaults_reach_the_promised_test_accuracy(model, default_models, mnist):
    """Trained once per session by ``default_models`` (conftest.py), shared with test_cli."""
    trained = default_models[model].trained
    assert trained.config == RunConfig(model)
    assert trained.test_accuracy >= PROMISED_ACCURACY[model], trained.name
    assert len(trained.history) == trained.config.epochs
    assert trained.test_accuracy == np.mean(trained.predict(mnist.x_test) == mnist.y_test)
