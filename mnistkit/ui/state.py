"""The models a visitor can use: ready-made ones shared by all, and their own in session state.

What a visitor trains or uploads lives in ``st.session_state`` and is theirs alone. Ready-made
models come from the folder named by ``MNISTKIT_MODELS_DIR``; they are loaded once per server,
never changed, and listed for everyone (marked as ready-made).

The server never loads Keras: a Keras file is read by one worker process (``file_reader``) and
kept as its network of arrays, with the file's bytes for downloads.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from mnistkit.ui import limits

if TYPE_CHECKING:  # kept out of the home page's imports: models import scikit-learn
    from mnistkit.data import Dataset
    from mnistkit.training import TrainedModel

MODELS_KEY = "mnistkit_models"
EVALUATIONS_KEY = "mnistkit_evaluations"
READY_MADE_SEEN_KEY = "mnistkit_ready_made_loaded"


@dataclass(frozen=True)
class ModelEntry:
    """One model in a visitor's list."""

    name: str
    trained: TrainedModel
    ready_made: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} (ready-made)" if self.ready_made else self.name


@dataclass(frozen=True)
class ReadyMade:
    """The ready-made folder's models that loaded, and a sentence per file that did not."""

    models: dict[str, TrainedModel]
    problems: tuple[str, ...] = ()


def models_folder() -> Path | None:
    folder = os.environ.get("MNISTKIT_MODELS_DIR", "").strip()
    return Path(folder) if folder else None


def ready_made_files(folder: Path | None) -> list[Path]:
    """The files in the ready-made folder, in name order (hidden files skipped)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@st.cache_resource(show_spinner=False)
def file_reader():
    """The worker process, one per server, that reads the model files needing Keras."""
    from mnistkit.jobs.reader import FileReader

    return FileReader()


def read_model_file(data: bytes, name: str) -> TrainedModel:
    """A model file's bytes (an upload, a class's saved model) read safely, Keras in a worker."""
    from mnistkit import persistence

    return persistence.loads(data, name, reader=file_reader())


@st.cache_resource(show_spinner="Loading the ready-made models…")
def _load_ready_made(folder: str) -> ReadyMade:
    """Load every model file of ``folder`` once per server; shared read-only by all visitors."""
    from mnistkit import persistence

    models: dict[str, TrainedModel] = {}
    problems = []
    for path in ready_made_files(Path(folder)):
        try:
            trained = persistence.load(path, reader=file_reader())
        except ValueError as error:
            problems.append(f"{path.name}: {error}")
            continue
        models[_unique(trained.name, models)] = trained
    return ReadyMade(models, tuple(problems))


def ready_made() -> ReadyMade:
    """The ready-made models (loading them on first use)."""
    folder = models_folder()
    if folder is None:
        return ReadyMade({})
    if not folder.is_dir():
        return ReadyMade({}, (f"The folder {folder} named by MNISTKIT_MODELS_DIR does not exist.",))
    st.session_state[READY_MADE_SEEN_KEY] = True
    return _load_ready_made(str(folder.resolve()))


def _own() -> dict[str, TrainedModel]:
    return st.session_state.setdefault(MODELS_KEY, {})


def _unique(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``… if it is already taken."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def check_room() -> None:
    """Refuse (``LimitError``, stating the cap) when the visitor keeps the most models allowed."""
    limits.check_models(len(_own()))


def add_model(trained: TrainedModel) -> str:
    """Add a visitor's model under a name no other model in their list has; returns that name."""
    check_room()
    taken = set(_own()) | set(ready_made().models)
    name = _unique(trained.name, taken)
    _own()[name] = dataclasses.replace(trained, name=name)
    _class_hooks().model_added(_own()[name])  # saved to the learner's class, if they joined
    return name


def remove_model(name: str) -> None:
    """Forget one of the visitor's own models (ready-made ones cannot be removed)."""
    _own().pop(name, None)
    _class_hooks().model_removed(name)
    evaluations = st.session_state.setdefault(EVALUATIONS_KEY, {})
    for key in [key for key in evaluations if key[0] == name]:
        del evaluations[key]


def _class_hooks():
    from mnistkit.ui import classroom

    return classroom


def all_models(*, load_ready_made: bool = True) -> list[ModelEntry]:
    """Ready-made models first, then the visitor's own in the order they were added.

    With ``load_ready_made=False`` ready-made models appear only once this visitor has loaded
    them, so a page that merely lists models (the home page's sidebar) stays fast.
    """
    entries = []
    if load_ready_made or st.session_state.get(READY_MADE_SEEN_KEY):
        entries = [ModelEntry(n, t, ready_made=True) for n, t in ready_made().models.items()]
    return entries + [ModelEntry(name, trained) for name, trained in _own().items()]


def reads_no_better_than_chance(entry: ModelEntry) -> bool:
    """True when the model's run ended near chance (10% for ten digits): a failed run."""
    from mnistkit.evaluation import chance_verdict

    return chance_verdict(entry.trained) is not None


def find_model(name: str | None) -> ModelEntry | None:
    return next((entry for entry in all_models() if entry.name == name), None)


def evaluation_of(entry: ModelEntry, dataset: Dataset):
    """The model's evaluation on the test digits, computed once per visitor and model."""
    from mnistkit.evaluation import evaluate

    evaluations = st.session_state.setdefault(EVALUATIONS_KEY, {})
    key = (entry.name, dataset.source)
    if key not in evaluations:
        evaluations[key] = evaluate(entry.trained.model, dataset.x_test, dataset.y_test)
    return evaluations[key]
