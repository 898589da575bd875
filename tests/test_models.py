"""The model zoo: one protocol, declared settings, and the from-scratch net against its references.

The from-scratch net is checked against the article's printed numbers and against finite
differences; every model against scikit-learn's own tooling, on small slices of real MNIST.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, OnFirstUse, keras_slow
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mnistkit.models import (
    MODEL_NAMES,
    REGISTRY,
    HyperparameterError,
    InputShapeError,
    KerasCNN,
    KerasMLP,
    NotTrainedError,
    ScratchLinearNet,
    SklearnMLP,
    TrainingDiverged,
    UnknownModelError,
    build_model,
    get_model_class,
)
from mnistkit.models.keras_mlp import PREDICT_BATCH_SIZES, _full_batches
from mnistkit.models.scratch import loss_and_gradients

# What the article prints after 5 epochs on the first training image alone.
ARTICLE_FIRST_PREDICTION = [
    0.0,
    0.03036370905054081,
    0.06072741810108162,
    0.09109112715162263,
    0.12145483620216324,
    1.1407872249800253,
    0.18218225430324525,
    0.21254596335378556,
    0.24290967240432648,
    0.2732733814548679,
]
ARTICLE_TEST_ACCURACY = 0.7447  # "74.47%", on the full 10,000 test images

# Small, quick settings per model for the protocol tests.
QUICK = {
    "scratch-linear": {"epochs": 2},
    "sklearn-mlp": {"hidden_layers": (32,), "batch_size": 32, "epochs": 2},
    "keras-mlp": {"hidden_layers": (32,), "batch_size": 32, "epochs": 2},
    "keras-cnn": {"filters": 4, "batch_size": 32, "epochs": 2},
}
KERAS = ("keras-mlp", "keras-cnn")


@pytest.fixture(scope="module")
def small(mnist):
    """2,000 training and 1,000 test digits of real MNIST."""
    return mnist.x_train[:2000], mnist.y_train[:2000], mnist.x_test[:1000], mnist.y_test[:1000]


@pytest.fixture(scope="module")
def quick_models(small):
    """One quickly trained model per family, shared by the tests that only read them."""
    x_train, y_train, _, _ = small
    return OnFirstUse(
        lambda name: build_model(name, **QUICK[name], random_state=0).fit(x_train, y_train)
    )


def article_model(epochs: int = 5) -> ScratchLinearNet:
    return build_model(
        "scratch-linear", **ScratchLinearNet.presets["article"].hyperparameters, epochs=epochs
    )


# --- the registry ---------------------------------------------------------------------------


def test_registry_names_the_four_models_in_reading_order():
    assert MODEL_NAMES == ("scratch-linear", "sklearn-mlp", "keras-mlp", "keras-cnn")
    assert {
        "scratch-linear": ScratchLinearNet,
        "sklearn-mlp": SklearnMLP,
        "keras-mlp": KerasMLP,
        "keras-cnn": KerasCNN,
    } == REGISTRY
    for name, model_class in REGISTRY.items():
        assert get_model_class(name) is model_class
        assert model_class.family == name


def test_an_unknown_model_name_is_refused_with_the_known_ones():
    known = "scratch-linear, sklearn-mlp, keras-mlp, keras-cnn"
    with pytest.raises(UnknownModelError, match=known):
        get_model_class("resnet")
    assert issubclass(UnknownModelError, ValueError)


def test_importing_the_models_does_not_import_keras_or_jax():
    code = (
        "import sys, mnistkit.models, mnistkit.training\n"
        "mnistkit.models.build_model('keras-mlp'), mnistkit.models.build_model('keras-cnn')\n"
        "print(sorted({'keras', 'jax'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- declarations -----------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", REGISTRY.values(), ids=MODEL_NAMES)
def test_declarations_match_the_constructor(model_class):
    parameters = inspect.signature(model_class.__init__).parameters
    declared = {h.name: h for h in model_class.hyperparameters}
    assert set(parameters) - {"self"} == set(declared) | {"random_state"}
    assert parameters["random_state"].default is None
    for name, declaration in declared.items():
        assert parameters[name].default == declaration.default, name
        assert declaration.validate(declaration.default) == declaration.default, name
        assert declaration.parse(declaration.format(declaration.default)) == declaration.default
        assert declaration.help and declaration.help.endswith((".", ")")), name
    assert declared["epochs"].kind == "int"
    assert "learning_rate" in declared and declared["learning_rate"].log
    assert model_class.display_name and model_class.summary


@pytest.mark.parametrize("model_class", REGISTRY.values(), ids=MODEL_NAMES)
def test_presets_hold_valid_settings(model_class):
    for preset in model_class.presets.values():
        model_class.validate_hyperparameters(preset.hyperparameters)
        if preset.epochs is not None:
            model_class.declaration("epochs").validate(preset.epochs)


@pytest.mark.parametrize("model_class", REGISTRY.values(), ids=MODEL_NAMES)
def test_values_out_of_range_are_refused_not_clipped(model_class):
    for declaration in model_class.hyperparameters:
        if declaration.kind in {"int", "float"}:
            too_high = (
                declaration.high * 10 if declaration.kind == "float" else declaration.high + 1
            )
            too_low = declaration.low - 1
            bad_values = [too_high, too_low]
        elif declaration.kind == "layers":
            bad_values = [
                (int(declaration.high) + 1,),
                (0,),
                (),
                (8,) * (declaration.max_layers + 1),
            ]
        elif declaration.kind == "choice":
            bad_values = ["surely-not-an-option"]
        else:
            bad_values = ["yes"]
        for value in bad_values:
            with pytest.raises(HyperparameterError, match=declaration.name):
                build_model(model_class.family, **{declaration.name: value})


def test_unknown_settings_and_bad_seeds_are_refused():
    with pytest.raises(HyperparameterError, match="no setting called 'lr'"):
        build_model("scratch-linear", lr=0.1)
    with pytest.raises(HyperparameterError, match="random_state"):
        build_model("scratch-linear", random_state=-1)


def test_build_model_stores_canonical_values_and_init_stores_them_unchanged():
    model = build_model("sklearn-mlp", hidden_layers=[64, 32], learning_rate=1)
    assert model.hidden_layers == (64, 32)
    assert model.learning_rate == 1.0 and isinstance(model.learning_rate, float)
    raw = SklearnMLP(hidden_layers=[64, 32])
    assert raw.get_params()["hidden_layers"] == [64, 32]


# --- the article, reproduced ---------------------------------------------------------------


def test_article_preset_gives_the_printed_first_image_prediction(mnist):
    model = article_model().fit(mnist.x_train[:1], mnist.y_train[:1])
    prediction = model.decision_function(mnist.x_train[:1])[0]
    assert prediction[0] == 0.0  # the first row starts at zero and never moves
    np.testing.assert_allclose(prediction, ARTICLE_FIRST_PREDICTION, rtol=1e-12, atol=0)
    assert model.predict(mnist.x_train[:1])[0] == mnist.y_train[0] == 5


def test_article_preset_gives_the_printed_test_accuracy(mnist):
    model = article_model().fit(mnist.x_train[:1000], mnist.y_train[:1000])
    accuracy = np.mean(model.predict(mnist.x_test) == mnist.y_test)
    assert accuracy == ARTICLE_TEST_ACCURACY
    assert model.count_parameters() == 7840  # 10 x 784 weights, no biases


def test_one_article_step_is_the_delta_rule(mnist):
    image, label = mnist.x_train[:1], mnist.y_train[:1]
    model = article_model(epochs=1).fit(image, label)
    pixels = image.reshape(784).astype(np.float64)
    weights = np.repeat(np.arange(10)[:, None] / 10_000, 784, axis=1)
    goal = np.eye(10)[label[0]]
    expected = weights - 1e-7 * np.outer(weights @ pixels - goal, pixels)
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-15, atol=0)
    assert model.loss_curve_ == [pytest.approx(0.5 * np.sum((weights @ pixels - goal) ** 2))]


# --- the from-scratch maths -------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_gradients_match_finite_differences(loss, mnist, rng):
    inputs = mnist.x_train[:8].reshape(8, 784) / 255.0
    labels = mnist.y_train[:8].astype(np.int64)
    coef = rng.normal(0, 0.01, size=(10, 784))
    intercept = rng.normal(0, 0.1, size=10)
    _, coef_gradient, intercept_gradient = loss_and_gradients(coef, intercept, inputs, labels, loss)

    def loss_at(coef, intercept):
        return loss_and_gradients(coef, intercept, inputs, labels, loss)[0]

    step = 1e-6
    inked = np.flatnonzero(inputs.sum(axis=0) > 0)  # pixels where the gradient is not zero
    for row, column in zip(rng.integers(0, 10, 25), rng.choice(inked, 25), strict=True):
        shift = np.zeros_like(coef)
        shift[row, column] = step
        numeric = (loss_at(coef + shift, intercept) - loss_at(coef - shift, intercept)) / (2 * step)
        assert numeric == pytest.approx(coef_gradient[row, column], rel=1e-5, abs=1e-9)
    for digit in range(10):
        shift = np.zeros(10)
        shift[digit] = step
        numeric = (loss_at(coef, intercept + shift) - loss_at(coef, intercept - shift)) / (2 * step)
        assert numeric == pytest.approx(intercept_gradient[digit], rel=1e-5, abs=1e-9)


def test_a_blow_up_stops_the_epoch_at_once(mnist):
    model = build_model(
        "scratch-linear",
        loss="squared_error",
        input_scaling="raw",
        batch_size=1,
        learning_rate=1e-3,
        shuffle=False,
    )
    with pytest.raises(TrainingDiverged, match=r"epoch 1\. The learning rate \(0\.001\)"):
        model.partial_fit(mnist.x_train, mnist.y_train)
    assert len(model.loss_curve_) == 1 and not math.isfinite(model.loss_curve_[0])


def test_sklearn_refusing_infinite_weights_becomes_training_diverged(small, monkeypatch):
    def blow_up(*args, **kwargs):
        raise ValueError("Solver produced non-finite parameter weights. The input data may ...")

    monkeypatch.setattr("sklearn.neural_network.MLPClassifier.partial_fit", blow_up)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        build_model("sklearn-mlp").partial_fit(small[0], small[1])


# --- the protocol, for every model -----------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_predictions_are_probabilities_whose_argmax_is_predict(name, quick_models, small):
    model = quick_models[name]
    x_test, y_test = small[2], small[3]
    probabilities = model.predict_proba(x_test)
    assert probabilities.shape == (1000, 10)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    predictions = model.predict(x_test)
    np.testing.assert_array_equal(predictions, np.argmax(probabilities, axis=1))
    assert np.mean(predictions == y_test) > 0.75  # two epochs on 2,000 digits
    assert list(model.classes_) == list(range(10))
    assert len(model.loss_curve_) == 2
    # The flat (n, 784) layout gives the same answer as (n, 28, 28).
    np.testing.assert_array_equal(model.predict(x_test[:5].reshape(5, 784)), predictions[:5])


def test_squared_error_probabilities_keep_the_order_of_the_scores(mnist):
    model = article_model(epochs=1).fit(mnist.x_train[:200], mnist.y_train[:200])
    scores = model.decision_function(mnist.x_test[:200])
    np.testing.assert_array_equal(
        np.argsort(model.predict_proba(mnist.x_test[:200]), axis=1), np.argsort(scores, axis=1)
    )


@pytest.mark.parametrize("name", keras_slow(MODEL_NAMES))
def test_partial_fit_adds_one_epoch_and_fit_starts_afresh(name, small):
    x_train, y_train = small[0][:300], small[1][:300]
    model = build_model(name, **{**QUICK[name], "epochs": 1}, random_state=3)
    model.partial_fit(x_train, y_train)
    first_step = getattr(model, "model_", None) and model.model_.train_function
    model.partial_fit(x_train, y_train)
    assert len(model.loss_curve_) == 2
    if name in KERAS:  # one more epoch reuses the compiled training step
        assert model.model_.train_function is first_step
    assert model.fit(x_train, y_train) is model
    assert len(model.loss_curve_) == 1


@pytest.mark.parametrize("name", ["scratch-linear", "sklearn-mlp"])
def test_same_seed_same_model_bit_for_bit(name, small):
    x_train, y_train = small[0][:1000], small[1][:1000]

    def weights(seed):
        model = build_model(name, **QUICK[name], random_state=seed).fit(x_train, y_train)
        if name == "scratch-linear":
            return [model.coef_, model.intercept_]
        return model.estimator_.coefs_ + model.estimator_.intercepts_

    first, again, other = weights(7), weights(7), weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS)
def test_keras_same_seed_same_model(name, small):
    x_train, y_train = small[0][:300], small[1][:300]

    def weights(seed):
        settings = {**QUICK[name], "epochs": 1}
        model = build_model(name, **settings, random_state=seed)
        model.fit(x_train, y_train)
        return [np.asarray(variable.value) for variable in model.model_.weights]

    first, again, other = weights(7), weights(7), weights(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(first[0], other[0])


@pytest.mark.parametrize("name", KERAS)
def test_keras_model_scales_pixels_itself(name, quick_models, small):
    model = quick_models[name]
    assert type(model.model_.layers[0]).__name__ == "Rescaling"
    images = small[2][:20]
    np.testing.assert_allclose(
        model.predict_proba(images.astype(np.float64)), model.predict_proba(images), rtol=1e-5
    )


@pytest.mark.parametrize("name", KERAS)
def test_keras_reads_any_number_of_digits_with_a_few_compilations(name, quick_models, small):
    """A growing handwriting set must not make XLA compile the network once per size."""
    import jax.monitoring

    model = quick_models[name]
    images = np.concatenate([small[2], small[2][:300]])  # 1,300 digits: more than one batch
    one_by_one = np.concatenate([model.predict_proba(image[None]) for image in images[:40]])
    compilations = []

    def count(event: str, *_, **__) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compilations.append(event)

    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        answers = {n: model.predict_proba(images[:n]) for n in [*range(1, 41), 129, 1300]}
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert len(compilations) <= len(PREDICT_BATCH_SIZES)
    for n, probabilities in answers.items():
        assert probabilities.shape == (n, 10)
    np.testing.assert_allclose(answers[40], one_by_one, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(answers[1300][:40], one_by_one, rtol=1e-5, atol=1e-7)
    assert model.predict_proba(images[:0]).shape == (0, 10)


@pytest.mark.parametrize("n, batch_size", [(54_000, 128), (300, 32), (256, 128), (50, 128)])
def test_keras_epoch_uses_every_image_in_full_batches(n, batch_size):
    """One compiled training step per run: the last batch is topped up, no image left out."""
    order = np.random.default_rng(0).permutation(n)
    epoch = _full_batches(order, batch_size)
    assert set(epoch) == set(range(n))
    assert len(epoch) - n < batch_size
    assert len(epoch) % batch_size == 0 or len(epoch) == n < batch_size
    np.testing.assert_array_equal(epoch[:n], order)


@pytest.mark.slow
def test_keras_article_003_has_sigmoid_outputs(small):
    settings = KerasMLP.presets["article-003"].hyperparameters
    model = build_model("keras-mlp", **{**settings, "hidden_layers": (32, 16)}, epochs=1)
    model.fit(small[0][:500], small[1][:500])
    assert model.model_.layers[-1].activation.__name__ == "sigmoid"
    probabilities = model.predict_proba(small[2][:50])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("name", keras_slow(MODEL_NAMES))
def test_scikit_learn_tooling_accepts_every_model(name, small):
    model = build_model(name, **QUICK[name], random_state=0)
    x_train, y_train = small[0][:600], small[1][:600]
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    flatten = FunctionTransformer(lambda images: np.asarray(images).reshape(len(images), -1))
    pipeline = Pipeline([("flatten", flatten), ("model", copy)]).fit(x_train, y_train)
    assert pipeline.predict(small[2][:10]).shape == (10,)
    scores = cross_val_score(clone(model), x_train.reshape(600, 784), y_train, cv=2)
    assert scores.shape == (2,) and np.all(scores > 0.3)  # chance is 0.1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_describe_and_count_parameters(name, quick_models):
    model = quick_models[name]
    expected = {
        "scratch-linear": ("Linear net (NumPy), cross entropy", 7850),
        "sklearn-mlp": ("scikit-learn MLP 32", 784 * 32 + 32 + 32 * 10 + 10),
        "keras-mlp": ("Keras MLP 32", 784 * 32 + 32 + 32 * 10 + 10),
        # 3x3x1x4 + 4, 3x3x4x8 + 8, then 5x5x8 = 200 features into 64 units and 10 outputs
        "keras-cnn": ("Keras CNN 4-8 3x3", 40 + 296 + 200 * 64 + 64 + 64 * 10 + 10),
    }[name]
    assert (model.describe(), model.count_parameters()) == expected
    if name in KERAS:
        assert model.model_.count_params() == expected[1]
    assert KerasMLP(hidden_layers=(128, 128)).describe() == "Keras MLP 128-128"
    assert KerasCNN(filters=32, kernel_size=5).describe() == "Keras CNN 32-64 5x5"


@pytest.mark.slow
def test_cnn_parameter_count_matches_keras_io_and_keras():
    keras_io = KerasCNN.presets["keras-io"].hyperparameters
    # keras-io's "Simple MNIST convnet" summary: "Total params: 34,826"
    assert build_model("keras-cnn", **keras_io).count_parameters() == 34_826
    for settings in (
        {"kernel_size": 5, "dense_units": 0},
        {"filters": 3, "kernel_size": 5, "dense_units": 10, "dropout": 0.0},
    ):
        model = build_model("keras-cnn", **settings)
        assert model.count_parameters() == model._build(model._validated_params()).count_params()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bad_inputs_are_explained(name, small):
    model = build_model(name, **QUICK[name])
    with pytest.raises(NotTrainedError, match="not been trained"):
        model.predict(small[2][:1])
    with pytest.raises(InputShapeError, match=r"\(n, 28, 28\)"):
        model.fit(np.zeros((3, 27, 27)), [0, 1, 2])
    with pytest.raises(InputShapeError, match="one per image"):
        model.fit(small[0][:3], [0, 1])
    with pytest.raises(InputShapeError, match="0 to 9"):
        model.fit(small[0][:2], [0, 10])
