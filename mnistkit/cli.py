"""The command line: train a model, evaluate it on the test digits, read digits from pictures.

    mnistkit train --model scratch-linear --preset article --out article.npz
    mnistkit evaluate article.npz
    mnistkit predict article.npz my-digit.png

A mistake a user can make (a bad setting, a missing file, a damaged model) ends with one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from mnistkit.models import REGISTRY

PROG = "mnistkit"
EXIT_ERROR = 2  # the code argparse uses for usage errors; every user error gets it
EXIT_SOME_IMAGES_FAILED = 1  # ``predict`` read some pictures but not all
EXIT_INTERRUPTED = 130


class CommandLineError(ValueError):
    """A command line that cannot be carried out, explained in a sentence."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mnistkit`` command; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except SystemExit as exit_:  # argparse after --help or a usage error
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    except (ValueError, OSError) as error:
        print(f"{PROG}: error: {_sentence(error)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train, evaluate and use digit classifiers on MNIST.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_class(commands)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line, like every other mnistkit error."""

    def error(self, message: str):
        print(f"{PROG}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


# --- train -------------------------------------------------------------------------------------


def _add_train(commands) -> None:
    command = commands.add_parser(
        "train",
        help="train a model and save it to a file",
        description="Train a model on MNIST, print a line per epoch and the test accuracy, and "
        "save the model.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--model", required=True, choices=list(REGISTRY), help="which model")
    command.add_argument("--preset", metavar="NAME", help="start from one of the model's presets")
    command.add_argument(
        "--set",
        dest="settings",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="change one hyperparameter, e.g. --set learning_rate=0.01 (repeatable)",
    )
    command.add_argument("--train-size", type=int, metavar="N", help="use the first N images")
    command.add_argument("--epochs", type=int, metavar="N", help="passes over the images")
    command.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    command.add_argument("--data", default="auto", metavar="SOURCE", help=_DATA_HELP)
    command.add_argument("--out", required=True, metavar="FILE", help="where to save the model")
    command.set_defaults(run=_train)


_DATA_HELP = (
    "where the digits come from: auto (default), download, sample, an .npz file or a folder of "
    "IDX files"
)


def _settings_help() -> str:
    from mnistkit.training import declarations

    lines = ["models, their presets and their --set keys (the run's, then the model's):"]
    for name, model_class in REGISTRY.items():
        presets = ", ".join(model_class.presets) or "none"
        lines.append(f"  {name} (presets: {presets})")
        for declaration in declarations(name).values():
            default = declaration.format(declaration.default)
            lines.append(f"    {declaration.name}={default}  ({declaration.describe_range()})")
    return "\n".join(lines)


def run_config(args: argparse.Namespace):
    """The ``RunConfig`` that the train command's options describe.

    The preset (or the declared defaults) first, then each ``--set KEY=VALUE`` read by its
    declaration, then the flags ``--train-size``, ``--epochs`` and ``--seed``, which are the same
    settings under shorter names.
    """
    from mnistkit.training import RunConfig, declarations, preset_settings

    settings = preset_settings(args.model, args.preset)
    known = declarations(args.model)
    for setting in args.settings:
        key, separator, text = setting.partition("=")
        key = key.strip()
        if not separator or not key:
            raise CommandLineError(
                f"--set takes KEY=VALUE, like learning_rate=0.01; got {setting!r}."
            )
        if key not in known:
            raise CommandLineError(
                f"{REGISTRY[args.model].display_name} has no setting called {key!r}; "
                f"its settings are {', '.join(known)}."
            )
        settings[key] = known[key].parse(text)
    for name in ("train_size", "epochs", "seed"):  # --train-size N, --epochs N, --seed N
        if getattr(args, name) is not None:
            settings[name] = known[name].validate(getattr(args, name))
    return RunConfig.from_settings(args.model, settings)


def _train(args: argparse.Namespace) -> int:
    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.evaluation import chance_verdict
    from mnistkit.training import train

    config = run_config(args)
    persistence.target_path(args.model, args.out)  # a bad --out fails now, not after training
    dataset = load_mnist(args.data)
    print(f"data: {dataset.source}")
    print(f"model: {args.model}, {_describe_config(config)}")
    trained = train(config, dataset, on_epoch=_progress_printer(config.epochs))
    path = persistence.save(trained, args.out)
    print(f"saved: {path}")
    if trained.test_accuracy is not None:
        print(f"test accuracy: {trained.test_accuracy:.4f}")
    verdict = chance_verdict(trained)
    if verdict is not None:
        print(f"warning: {verdict}")
    return 0


def _describe_config(config) -> str:
    settings = ", ".join(f"{key}={_text(value)}" for key, value in config.hyperparameters.items())
    size = "all" if config.train_size is None else f"{config.train_size:,}"
    return f"{settings}; {size} training images, {config.epochs} epochs, seed {config.seed}"


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(str(part) for part in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _progress_printer(epochs: int):
    def on_epoch(epoch: int, metrics: dict) -> None:
        print(progress_line(epoch, epochs, metrics), flush=True)

    return on_epoch


def progress_line(epoch: int, epochs: int, metrics: dict) -> str:
    """``epoch 3/10  loss 0.2431  train 93.1%  validation 92.8%  4.2 s``."""
    parts = [f"epoch {epoch}/{epochs}", f"loss {metrics['loss']:.4f}"]
    if metrics.get("train_accuracy") is not None:
        parts.append(f"train {metrics['train_accuracy']:.1%}")
    if metrics.get("validation_accuracy") is not None:
        parts.append(f"validation {metrics['validation_accuracy']:.1%}")
    parts.append(f"{metrics['seconds']:.1f} s")
    return "  ".join(parts)


# --- evaluate ----------------------------------------------------------------------------------


def _add_evaluate(commands) -> None:
    command = commands.add_parser(
        "evaluate",
        help="score a saved model on the test digits",
        description="Accuracy, per-digit scores and the confusion matrix on the MNIST test split.",
    )
    command.add_argument("model_file", metavar="MODEL_FILE")
    command.add_argument("--data", default="auto", metavar="SOURCE", help=_DATA_HELP)
    command.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.evaluation import chance_verdict, evaluate_dataset, mistakes

    trained = persistence.load(args.model_file)
    dataset = load_mnist(args.data)
    evaluation = evaluate_dataset(trained, dataset)
    print(f"model: {trained.name}")
    print(f"data: {dataset.source}")
    print(
        f"test accuracy: {evaluation.accuracy:.4f} "
        f"({evaluation.n_correct:,} of {evaluation.n_digits:,} test digits)"
    )
    verdict = chance_verdict(dataclasses.replace(trained, test_accuracy=evaluation.accuracy))
    if verdict is not None:
        print(f"warning: {verdict}")
    print(f"prediction time: {evaluation.latency_ms:.4f} ms per digit (in one batch)")
    print()
    print(format_per_class(evaluation))
    print()
    print("confusion matrix (rows: true digit, columns: predicted digit)")
    print(format_confusion(evaluation.confusion))
    worst = mistakes(evaluation, limit=5)
    if worst:
        print()
        print("most confident mistakes (test digit: true -> predicted, confidence)")
        for mistake in worst:
            print(
                f"  #{mistake.index}: {mistake.true} -> {mistake.predicted}, "
                f"{mistake.confidence:.4f}"
            )
    return 0


def format_per_class(evaluation) -> str:
    """The per-digit table as aligned text."""
    from mnistkit.evaluation import per_class_table

    lines = ["digit  support  correct  precision  recall      f1"]
    for row in per_class_table(evaluation):
        lines.append(
            f"{row['digit']:>5}  {row['support']:>7}  {row['correct']:>7}  "
            f"{row['precision']:>9.4f}  {row['recall']:>6.4f}  {row['f1']:>6.4f}"
        )
    return "\n".join(lines)


def format_confusion(confusion: np.ndarray) -> str:
    """The confusion matrix as aligned text, with digit headings."""
    width = max(5, len(str(int(confusion.max()))) + 1)
    lines = ["true " + "".join(f"{digit:>{width}}" for digit in range(confusion.shape[1]))]
    for digit, row in enumerate(confusion):
        lines.append(f"{digit:>4} " + "".join(f"{int(count):>{width}}" for count in row))
    return "\n".join(lines)


# --- predict -----------------------------------------------------------------------------------


def _add_predict(commands) -> None:
    command = commands.add_parser(
        "predict",
        help="read the digit in each picture",
        description="Print PATH DIGIT CONFIDENCE for each picture (PNG, JPEG, ...; any size; "
        "dark ink on light paper or light on dark). A picture that cannot be read is reported on "
        "its line and the exit code is 1.",
    )
    command.add_argument("model_file", metavar="MODEL_FILE")
    command.add_argument("images", metavar="IMAGE", nargs="+")
    command.add_argument("--json", action="store_true", help="print a JSON list instead")
    command.set_defaults(run=_predict)


def _predict(args: argparse.Namespace) -> int:
    from mnistkit import persistence

    trained = persistence.load(args.model_file)
    results = predict_files(trained.model, args.images)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(f"{result['path']} error: {result['error']}")
            else:
                confidence = max(result["probabilities"])
                print(f"{result['path']} {result['digit']} {confidence:.4f}")
    failed = any("error" in result for result in results)
    return EXIT_SOME_IMAGES_FAILED if failed else 0


def predict_files(model: Any, paths: Sequence[str]) -> list[dict]:
    """For each picture, ``{"path", "digit", "probabilities"}`` or ``{"path", "error"}``."""
    from mnistkit.preprocess import read_image, to_mnist

    results: list[dict] = []
    digits = []
    for path in paths:
        try:
            digits.append(to_mnist(read_image(path)))
            results.append({"path": path})
        except (ValueError, OSError) as error:
            results.append({"path": path, "error": _sentence(error)})
    if digits:
        probabilities = iter(model.predict_proba(np.stack(digits)))
        for result in results:
            if "error" not in result:
                row = next(probabilities)
                result["digit"] = int(model.classes_[int(np.argmax(row))])
                result["probabilities"] = [round(float(p), 6) for p in row]
    return results


# --- class (class mode's classes, on the database MNISTKIT_DATABASE_URL or the default names) --


def _add_class(commands) -> None:
    command = commands.add_parser(
        "class",
        help="create, list, export and delete classes (class mode)",
        description="Manage class mode's classes on the database that MNISTKIT_DATABASE_URL "
        "names (default: a SQLite file in MNISTKIT_STATE_DIR, ~/.mnistkit).",
    )
    actions = command.add_subparsers(title="actions", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a class; prints its join code and key")
    create.add_argument("name", metavar="NAME")
    create.set_defaults(run=_class_create)
    listing = actions.add_parser("list", help="every class with its code, learners and digits")
    listing.set_defaults(run=_class_list)
    export = actions.add_parser(
        "export", help="save a class's handwriting as MNIST-layout .npz or IDX files"
    )
    export.add_argument("code", metavar="CODE")
    export.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="a .npz file, or a folder for the four IDX files",
    )
    export.set_defaults(run=_class_export)
    delete = actions.add_parser("delete", help="delete a class and everything in it")
    delete.add_argument("code", metavar="CODE")
    delete.set_defaults(run=_class_delete)


def _class_database():
    from mnistkit.classroom.database import open_database

    return open_database()


def _class_create(args: argparse.Namespace) -> int:
    from mnistkit.classroom import classes

    new = classes.create_class(_class_database(), args.name)
    print(f"class: {new.name}")
    print(f"join code: {new.code}")
    print(f"teacher key: {new.teacher_key}")
    print("keep the teacher key: it is shown only now and opens the teacher's view")
    return 0


def _class_list(args: argparse.Namespace) -> int:
    from mnistkit.classroom import classes

    db = _class_database()
    classes.expire(db)  # classes past MNISTKIT_CLASS_DAYS that the teacher did not keep
    summaries = classes.list_classes(db)
    if not summaries:
        print("no classes yet: create one with mnistkit class create NAME")
        return 0
    print(f"{'code':<8}  {'learners':>8}  {'digits':>6}  {'expires':<10}  name")
    for summary in summaries:
        expires = "kept" if summary.expires_at is None else f"{summary.expires_at:%Y-%m-%d}"
        closed = " (closed)" if summary.closed else ""
        print(
            f"{summary.code:<8}  {summary.learners:>8}  {summary.digits:>6}  {expires:<10}  "
            f"{summary.name}{closed}"
        )
    return 0


def _class_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mnistkit.classroom import classes

    digits = classes.export_class(_class_database(), args.code)
    arrays = classes.export_arrays(digits)
    out = Path(args.out)
    if out.suffix == ".npz":
        out.write_bytes(classes.export_npz(digits))
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in classes.export_idx(digits).items():
            (out / name).write_bytes(data)
    print(
        f"exported {len(digits.labels)} digits ({len(arrays['y_train'])} train, "
        f"{len(arrays['y_test'])} test) to {out}"
    )
    return 0


def _class_delete(args: argparse.Namespace) -> int:
    from mnistkit.classroom import classes

    name = classes.delete_class_as_operator(_class_database(), args.code)
    print(f"deleted class {classes.normalise_code(args.code)} ({name}) and everything in it")
    return 0


# --- messages ----------------------------------------------------------------------------------


def _sentence(error: BaseException) -> str:
    """An error as one line: its message, or for system errors what went wrong and where."""
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}."
    text = " ".join(str(error).split())
    return text or type(error).__name__
