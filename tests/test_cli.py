"""The command line, run in-process and as ``python -m mnistkit``, on real MNIST.

The article preset is trained through the command line in seconds and must print the article's
test accuracy exactly. The default models are trained once each on all 60,000 images, once per
session (``default_models`` in conftest.py, ``slow``); their files are then reused for the
accuracy thresholds, the round trips and the predictions on drawn digits.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import tomllib
from typing import NamedTuple

import numpy as np
import pytest
from conftest import PROMISED_ACCURACY, ROOT
from drawings import STYLES, canvas_png

from mnistkit import persistence
from mnistkit.cli import build_parser, format_confusion, main, progress_line, run_config
from mnistkit.models import REGISTRY
from mnistkit.training import RunConfig, declarations, preset_settings

ERROR_LINE = re.compile(r"mnistkit: error: [^\n]+\n")


def run(*argv) -> tuple[int, str, str]:
    """``main`` with these arguments: its exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(arg) for arg in argv])
    return code, stdout.getvalue(), stderr.getvalue()


def run_module(*argv) -> subprocess.CompletedProcess:
    """``python -m mnistkit`` in a fresh process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "mnistkit", *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def typical_digits(mnist) -> list[int]:
    """For each digit 0-9, the test image among its first 50 most like the class's average.

    A drawing test wants clearly written digits, the kind a learner draws; "most like the
    average training image of its class" picks them without asking any model.
    """
    chosen = []
    for digit in range(10):
        average = mnist.x_train[mnist.y_train == digit].reshape(-1, 784).mean(axis=0)
        candidates = np.flatnonzero(mnist.y_test == digit)[:50]
        likeness = [np.corrcoef(mnist.x_test[i].ravel(), average)[0, 1] for i in candidates]
        chosen.append(int(candidates[int(np.argmax(likeness))]))
    return chosen


PLACEMENTS = {  # small and off-centre on the 280x280 canvas: (scale, (left, top))
    "white-on-black": (3, (20, 170)),
    "black-on-transparent": (4, (150, 30)),
    "black-on-white": (5, (10, 20)),
}


class Drawing(NamedTuple):
    index: int  # in the test split
    digit: int  # the true digit
    style: str


def write_drawings(mnist, folder, indices) -> dict[str, Drawing]:
    """PNG drawings of these test digits in the three canvas styles, by path."""
    drawings = {}
    for index in indices:
        for style in STYLES:
            scale, offset = PLACEMENTS[style]
            path = folder / f"test{index}-{style}.png"
            path.write_bytes(canvas_png(mnist.x_test[index], style, scale, offset))
            drawings[str(path)] = Drawing(int(index), int(mnist.y_test[index]), style)
    return drawings


def read_drawings(model_file, drawings: dict[str, Drawing]) -> dict[str, int]:
    """What ``mnistkit predict`` reads in each drawing: path -> digit."""
    code, stdout, stderr = run("predict", model_file, *drawings)
    assert code == 0, stderr
    return {line.rsplit(" ", 2)[0]: int(line.rsplit(" ", 2)[1]) for line in stdout.splitlines()}


# --- the article preset: fast ------------------------------------------------------------------


@pytest.fixture(scope="module")
def article(mnist_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("article") / "article.npz"
    code, stdout, stderr = run(
        "train", "--model", "scratch-linear", "--preset", "article",
        "--data", mnist_path, "--out", path,
    )  # fmt: skip
    assert code == 0, stderr
    return path, stdout


def test_train_prints_the_articles_test_accuracy_exactly(article):
    path, stdout = article
    lines = stdout.splitlines()
    assert lines[-1] == "test accuracy: 0.7447"
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 5
    assert re.fullmatch(r"epoch 1/5  loss \d+\.\d{4}  train \d+\.\d%  \d+\.\d s", epochs[0])
    assert path.is_file() and persistence.load(path).test_accuracy == 0.7447


def test_evaluate_prints_accuracy_table_and_confusion_matrix(article, mnist_path):
    code, stdout, stderr = run("evaluate", article[0], "--data", mnist_path)
    assert code == 0 and stderr == ""
    assert "test accuracy: 0.7447 (7,447 of 10,000 test digits)" in stdout
    table = stdout.split("digit  support")[1].splitlines()[1:11]
    assert [int(row.split()[0]) for row in table] == list(range(10))
    assert sum(int(row.split()[1]) for row in table) == 10_000
    matrix = stdout.split("columns: predicted digit)\n")[1].splitlines()[1:11]
    counts = np.array([[int(cell) for cell in row.split()[1:]] for row in matrix])
    assert counts.shape == (10, 10) and counts.sum() == 10_000 and np.trace(counts) == 7447


def test_predict_prints_a_line_per_picture(article, mnist, tmp_path):
    drawings = write_drawings(mnist, tmp_path, range(10))
    code, stdout, _ = run("predict", article[0], *drawings)
    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == len(drawings)
    for line, path in zip(lines, drawings, strict=True):
        written_path, digit, confidence = line.rsplit(" ", 2)
        assert written_path == path and digit in "0123456789"
        assert re.fullmatch(r"0\.\d{4}|1\.0000", confidence)


def test_predict_json_and_bad_pictures(article, mnist, tmp_path):
    good = tmp_path / "seven.png"
    good.write_bytes(canvas_png(mnist.x_test[0], "black-on-white", 4, (100, 100)))
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("not a picture")
    blank = tmp_path / "blank.png"
    blank.write_bytes(canvas_png(np.zeros((28, 28), np.uint8), "black-on-white"))
    pictures = [not_a_picture, good, tmp_path / "missing.png", blank]

    code, stdout, stderr = run("predict", article[0], *pictures)
    assert code == 1 and stderr == ""
    lines = stdout.splitlines()
    assert lines[0].startswith(f"{not_a_picture} error: ")
    assert re.fullmatch(rf"{re.escape(str(good))} \d 0\.\d{{4}}", lines[1])
    assert lines[2].startswith(f"{tmp_path / 'missing.png'} error: ")
    assert lines[3].startswith(f"{blank} error: ")

    code, stdout, _ = run("predict", article[0], good, not_a_picture, "--json")
    assert code == 1
    results = json.loads(stdout)
    assert results[0]["path"] == str(good) and results[0]["digit"] in range(10)
    assert len(results[0]["probabilities"]) == 10
    assert sum(results[0]["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert results[0]["digit"] == int(np.argmax(results[0]["probabilities"]))
    assert results[1]["path"] == str(not_a_picture) and "error" in results[1]


LINEAR = "train --model scratch-linear --out x"


@pytest.mark.parametrize(
    "command, message",
    [
        ("train --model nope --out x", "invalid choice"),
        (f"{LINEAR} --set lr=1", "no setting"),
        (f"{LINEAR} --set learning_rate=fast", "could not be read"),
        (f"{LINEAR} --set learning_rate=99", "from 1e-09 to 10"),
        (f"{LINEAR} --set learning_rate", "KEY=VALUE"),
        (f"{LINEAR} --preset nope", "no preset"),
        (f"{LINEAR} --epochs 0", "epochs"),
        (f"{LINEAR} --train-size many", "invalid int"),
        (f"{LINEAR} --data /no/such.npz", "/no/such"),
        ("train --model scratch-linear --out x.keras", r"saved as a \.npz"),
        ("train --model scratch-linear --out /no/such/folder/x", "does not exist"),
        ("train --model scratch-linear", "required: --out"),
        ("evaluate /no/such/model.npz", "no model file"),
        ("predict /no/such/model.npz x.png", "no model file"),
        ("frobnicate", "invalid choice"),
        ("", "required"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(command, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(*command.split())
    assert code == 2
    assert ERROR_LINE.fullmatch(stderr), stderr
    assert re.search(message, stderr)
    assert "Traceback" not in stdout + stderr
    assert not (tmp_path / "x.npz").exists()


def test_a_damaged_or_unsafe_model_file_is_an_error(article, tmp_path):
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(article[0].read_bytes()[:3000])
    code, _, stderr = run("evaluate", damaged)
    assert code == 2 and ERROR_LINE.fullmatch(stderr) and "damaged" in stderr
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(b"\x80\x04K\x01.")
    code, _, stderr = run("predict", pickled, "x.png")
    assert code == 2 and ERROR_LINE.fullmatch(stderr) and "pickle" in stderr


def test_run_config_reads_every_option():
    args = build_parser().parse_args(
        ["train", "--model", "sklearn-mlp", "--set", "hidden_layers=64-32", "--set",
         "solver=sgd", "--epochs", "3", "--train-size", "500", "--seed", "7", "--out", "m"]
    )  # fmt: skip
    config = run_config(args)
    assert config.model == "sklearn-mlp"
    assert config.hyperparameters["hidden_layers"] == (64, 32)
    assert config.hyperparameters["solver"] == "sgd"
    assert (config.epochs, config.train_size, config.seed) == (3, 500, 7)


def test_options_change_a_preset_and_keep_the_rest():
    args = build_parser().parse_args(
        ["train", "--model", "scratch-linear", "--preset", "article", "--set", "epochs=2",
         "--out", "m"]
    )  # fmt: skip
    config = run_config(args)
    assert (config.epochs, config.train_size, config.validation_share) == (2, 1000, 0.0)
    assert config.hyperparameters["learning_rate"] == 1e-7


def test_every_run_setting_is_a_set_key_and_the_flags_are_the_same_settings():
    args = build_parser().parse_args(
        ["train", "--model", "scratch-linear", "--preset", "article", "--set", "train_size=all",
         "--set", "validation_share=0.2", "--set", "seed=4", "--out", "m"]
    )  # fmt: skip
    config = run_config(args)
    assert config == RunConfig.from_settings(
        "scratch-linear",
        preset_settings("scratch-linear", "article")
        | {"train_size": None, "validation_share": 0.2, "seed": 4},
    )
    flags = ["--train-size", "700", "--epochs", "2", "--seed", "9"]
    with_flags = build_parser().parse_args(["train", "--model", "keras-mlp", *flags, "--out", "m"])
    with_set = build_parser().parse_args(
        ["train", "--model", "keras-mlp", "--set", "train_size=700", "--set", "epochs=2",
         "--set", "seed=9", "--out", "m"]
    )  # fmt: skip
    assert run_config(with_flags) == run_config(with_set)
    assert run_config(with_flags) == RunConfig("keras-mlp", train_size=700, epochs=2, seed=9)


def test_the_settings_help_lists_every_declared_setting():
    code, stdout, _ = run("train", "--help")
    assert code == 0
    for family in REGISTRY:
        for name, declaration in declarations(family).items():
            assert f"    {name}={declaration.format(declaration.default)}  (" in stdout


def test_text_formats():
    metrics = {"loss": 0.24312, "train_accuracy": 0.931, "validation_accuracy": 0.928}
    metrics["seconds"] = 4.23
    assert progress_line(3, 10, metrics) == (
        "epoch 3/10  loss 0.2431  train 93.1%  validation 92.8%  4.2 s"
    )
    confusion = np.diag(np.full(10, 1000))
    lines = format_confusion(confusion).splitlines()
    assert len(lines) == 11 and len({len(line) for line in lines}) == 1  # aligned


# --- as a separate process ---------------------------------------------------------------------


@pytest.mark.slow
def test_python_m_mnistkit_exit_codes_and_no_traceback(article, tmp_path):
    assert run_module("--help").returncode == 0
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    result = run_module("evaluate", damaged)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mnistkit: error: damaged.keras")
    result = run_module("predict", article[0], tmp_path / "missing.png")
    assert result.returncode == 1 and "missing.png error:" in result.stdout


@pytest.mark.slow
def test_the_console_script_exits_with_mains_code(tmp_path):
    """``mnistkit`` runs what pyproject declares, the way installers wrap it: sys.exit(main())."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["mnistkit"].split(":")
    wrapper = f"import sys; from {module} import {function}; sys.exit({function}())"
    result = subprocess.run(
        [sys.executable, "-c", wrapper, "evaluate", str(tmp_path / "none.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no model file" in result.stderr


# --- the four default models, trained once on all 60,000 images (slow) -------------------------

THRESHOLDS = PROMISED_ACCURACY


@pytest.fixture(scope="module")
def defaults(default_models):
    """Each default model trained through the command line: (file, stdout, TrainedModel)."""
    return {family: (m.path, m.stdout, m.trained) for family, m in default_models.items()}


@pytest.mark.slow
@pytest.mark.parametrize("family", THRESHOLDS)
def test_default_models_reach_their_accuracy(family, defaults):
    path, stdout, _ = defaults[family]
    last = stdout.splitlines()[-1]
    assert re.fullmatch(r"test accuracy: \d\.\d{4}", last)
    assert float(last.split()[-1]) >= THRESHOLDS[family]
    assert path.is_file()


@pytest.mark.slow
@pytest.mark.parametrize("family", THRESHOLDS)
def test_default_models_round_trip_with_identical_predictions(family, defaults, mnist):
    path, _, trained = defaults[family]
    loaded = persistence.load(path)
    assert np.array_equal(loaded.predict_proba(mnist.x_test), trained.predict_proba(mnist.x_test))
    assert (loaded.name, loaded.history, loaded.config) == (
        trained.name,
        trained.history,
        trained.config,
    )


@pytest.fixture(scope="module")
def typical_drawings(mnist, tmp_path_factory):
    return write_drawings(mnist, tmp_path_factory.mktemp("typical"), typical_digits(mnist))


@pytest.fixture(scope="module")
def many_drawings(mnist, tmp_path_factory):
    """The first 20 test digits of each class, drawn in each style (600 pictures)."""
    indices = np.concatenate([np.flatnonzero(mnist.y_test == d)[:20] for d in range(10)])
    return write_drawings(mnist, tmp_path_factory.mktemp("many"), indices)


@pytest.mark.slow
@pytest.mark.parametrize("family", THRESHOLDS)
def test_default_models_read_drawn_digits(family, defaults, typical_drawings):
    read = read_drawings(defaults[family][0], typical_drawings)
    wrong = {path: read[path] for path, d in typical_drawings.items() if read[path] != d.digit}
    assert wrong == {}, f"misread drawings (path: answer): {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("family", THRESHOLDS)
def test_drawing_a_digit_costs_little_accuracy(family, defaults, many_drawings, mnist):
    """On 200 test digits per style, drawn small and off-centre, accuracy drops by under 3%."""
    model = defaults[family][2]
    read = read_drawings(defaults[family][0], many_drawings)
    for style in STYLES:
        drawings = {path: d for path, d in many_drawings.items() if d.style == style}
        indices = [drawing.index for drawing in drawings.values()]
        original = np.mean(model.predict(mnist.x_test[indices]) == mnist.y_test[indices])
        drawn = np.mean([read[path] == drawing.digit for path, drawing in drawings.items()])
        assert drawn >= original - 0.03, f"{style}: {drawn:.3f} drawn, {original:.3f} original"


@pytest.mark.slow
@pytest.mark.parametrize("family", THRESHOLDS)
def test_evaluate_agrees_with_the_accuracy_train_printed(family, defaults, mnist_path):
    path, train_stdout, _ = defaults[family]
    code, stdout, _ = run("evaluate", path, "--data", mnist_path)
    assert code == 0
    printed = train_stdout.splitlines()[-1].split()[-1]
    assert f"test accuracy: {printed} (" in stdout
