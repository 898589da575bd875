"""Shared fixtures: the real MNIST file, the default models trained once, and the browser.

A test that needs MNIST or Chromium fails in CI (``CI`` set) when they are missing, and is
skipped with a reason elsewhere, so a developer without them can still run the rest.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() not in {"", "0", "false"}
# Each page's title (its h1), as the page tests and the browser tests read it.
TITLES = {
    "home": "How does a neural network read handwritten digits?",
    "data": "Look at the digits",
    "train": "Train a model",
    "evaluate": "Evaluate a model",
    "compare": "Compare the models",
    "draw": "Draw a digit",
}


def require(condition: bool, reason: str) -> None:
    """Fail in CI, skip with ``reason`` elsewhere, when ``condition`` does not hold."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


GET_MNIST = (
    "get it with mnistkit's own download, "
    """python -c "from mnistkit.data import load_mnist; load_mnist('download')" """
    "(11 MB, checked, saved as ~/.keras/datasets/mnist.npz), then run the tests with "
    "MNIST_NPZ=~/.keras/datasets/mnist.npz"
)


def mnist_npz_path() -> Path:
    return Path(os.environ.get("MNIST_NPZ") or ROOT.parent / "shared" / "data" / "mnist.npz")


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    path = mnist_npz_path()
    require(path.is_file(), f"real MNIST not found at {path}; {GET_MNIST}")
    return path


@pytest.fixture(scope="session")
def idx_dir(mnist_path: Path) -> Path:
    """The folder holding the original t10k IDX files, next to mnist.npz."""
    folder = mnist_path.parent / "idx"
    require(folder.is_dir(), f"original IDX files not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_path: Path):
    """The full data set, loaded once for the whole session."""
    from mnistkit.data import load_mnist

    return load_mnist(mnist_path)


@pytest.fixture(scope="session")
def sample():
    """The bundled sample data set (read-only arrays), loaded once for the whole session."""
    from mnistkit.data import load_mnist

    return load_mnist("sample")


def sample_app(monkeypatch, timeout: float = 300):
    """The app, run once with AppTest on the bundled sample and no ready-made models."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()


class OnFirstUse(dict):
    """``key -> value``, each made by ``make(key)`` the first time a test asks for it.

    For fixtures holding one trained model per family: a quick run, which leaves the Keras
    tests out, then never trains (or compiles) a Keras model.
    """

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        self[key] = value = self._make(key)
        return value


def keras_slow(families) -> list:
    """Families as pytest parameters, the Keras ones marked ``slow`` (compiling costs seconds)."""
    return [
        pytest.param(family, marks=pytest.mark.slow) if family.startswith("keras") else family
        for family in families
    ]


# What each family's defaults promise on the real test set, trained on all 60,000 digits.
PROMISED_ACCURACY = {
    "scratch-linear": 0.92,
    "sklearn-mlp": 0.975,
    "keras-mlp": 0.98,
    "keras-cnn": 0.990,  # measured 99.23% (4 epochs; 90-117 s of CPU time on 2 cores)
}


@dataclass(frozen=True)
class DefaultModel:
    """A family's default model, trained once per test session through the command line."""

    path: Path  # the model file ``mnistkit train`` saved
    stdout: str  # what it printed: data, model, a line per epoch, saved, test accuracy
    trained: Any  # the TrainedModel it saved, as it was before saving


@pytest.fixture(scope="session")
def default_models(mnist_path, tmp_path_factory) -> dict[str, DefaultModel]:
    """Each family's defaults trained once on all 60,000 digits with ``mnistkit train`` (minutes).

    Shared by the command line's and training's slow tests, so no session trains them twice.
    """
    import contextlib
    import io

    from mnistkit import persistence
    from mnistkit.cli import main

    folder = tmp_path_factory.mktemp("defaults")
    models = {}
    for family in PROMISED_ACCURACY:
        kept = []
        original_save = persistence.save

        def keeping_save(trained, path, kept=kept, original_save=original_save):
            kept.append(trained)
            return original_save(trained, path)

        stdout, stderr = io.StringIO(), io.StringIO()
        with (
            pytest.MonkeyPatch.context() as patch,
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            patch.setattr(persistence, "save", keeping_save)
            argv = ["train", "--model", family, "--data", str(mnist_path), "--out"]
            code = main([*argv, str(folder / family)])
        assert code == 0, stderr.getvalue()
        printed = stdout.getvalue()
        (saved,) = [line for line in printed.splitlines() if line.startswith("saved: ")]
        models[family] = DefaultModel(Path(saved.removeprefix("saved: ")), printed, kept[0])
    return models


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    require(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    """Headless Chromium driven by Playwright (a test dependency: missing, it fails loudly)."""
    import playwright.sync_api as playwright_api
    from browser_helpers import launch

    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        yield browser
        browser.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def served_through_the_router(monkeypatch):
    """Let AppTest run the app as a server does once app.py has run: through st.navigation.

    AppTest forgets before every run whether the app navigates with st.navigation, so each of
    its runs would start in Streamlit's older pages/ layout, and every page's
    through_the_router() would rerun and drop that run's clicks. A real server remembers; how it
    serves a page's own address as its first request is covered by a browser test.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


# --- class mode's databases --------------------------------------------------------------------

POSTGRES_HOW_TO = (
    "PostgreSQL for the class-mode tests is not running; start a throwaway one with "
    'eval "$(scripts/start_postgres.sh start)" (Debian: apt-get install postgresql)'
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The server named by MNISTKIT_TEST_POSTGRES_URL (``.ci/run`` starts one on loopback)."""
    url = os.environ.get("MNISTKIT_TEST_POSTGRES_URL", "").strip()
    require(bool(url), POSTGRES_HOW_TO)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        require(False, f"{POSTGRES_HOW_TO} (could not connect to {url}: {error.orig})")
    finally:
        engine.dispose()
    return url


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the test server for one test; dropped afterwards."""
    import secrets

    import sqlalchemy as sa

    name = f"mnistkit_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        from mnistkit.classroom.database import forget_databases

        forget_databases()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh class database: a real SQLite file, then a real PostgreSQL database."""
    from mnistkit.classroom.database import forget_databases

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'classes.sqlite3'}"
        forget_databases()
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
            yield url
