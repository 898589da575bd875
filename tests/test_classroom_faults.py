"""A class database that cannot be written: a read-only folder, a full disk.

Real faults on a real file system: a tiny tmpfs mounted for the test (root), made read-only or
filled up. Each gives one sentence (``StorageError``), and what was saved before is still there.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import require

from mnistkit.classroom import classes, database

HOW_TO = "these tests mount a tiny tmpfs, which needs root (or CAP_SYS_ADMIN)"


def _mount(*arguments: str) -> bool:
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True)
    return result.returncode == 0


@contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    require(_mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)), HOW_TO)
    try:
        yield folder
    finally:
        database.forget_databases()
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _url(folder: Path) -> str:
    return f"sqlite:///{folder / 'state' / 'classes.sqlite3'}"


def test_a_read_only_folder_is_one_sentence(tmp_path):
    with tiny_disk(tmp_path / "disk", "1m") as disk:
        assert _mount("-o", "remount,ro", str(disk))
        with pytest.raises(database.StorageError) as error:
            database.open_database(_url(disk))
    message = str(error.value)
    assert "nothing was saved" in message and "MNISTKIT_STATE_DIR" in message
    assert "\n" not in message and "Traceback" not in message


def test_a_database_made_read_only_keeps_what_it_holds(tmp_path):
    with tiny_disk(tmp_path / "disk", "2m") as disk:
        db = database.open_database(_url(disk))
        new = classes.create_class(db, "Class")
        ana = classes.join_class(db, new.code, "Ana")
        classes.add_digit(db, ana.token, np.full((28, 28), 7, np.uint8), 7)
        database.forget_databases()  # the server restarts on a disk now read-only
        assert _mount("-o", "remount,ro", str(disk))
        with pytest.raises(database.StorageError, match="cannot be opened, so nothing was saved"):
            db = database.open_database(_url(disk))
            classes.add_digit(db, ana.token, np.full((28, 28), 8, np.uint8), 8)
        assert _mount("-o", "remount,rw", str(disk))
        database.forget_databases()
        again = database.open_database(_url(disk))
        assert classes.own_digits(again, ana.token).labels.tolist() == [7]
        classes.add_digit(again, ana.token, np.full((28, 28), 8, np.uint8), 8)  # works again
        assert classes.own_digits(again, ana.token).labels.tolist() == [7, 8]


def test_a_full_disk_is_one_sentence_and_loses_nothing_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_CLASS_DIGITS", "100000")
    with tiny_disk(tmp_path / "disk", "400k") as disk:
        db = database.open_database(_url(disk))
        new = classes.create_class(db, "Class")
        ana = classes.join_class(db, new.code, "Ana")
        saved = []
        rng = np.random.default_rng(0)
        with pytest.raises(database.StorageError) as error:
            for index in range(5000):  # 784 bytes each: the 400 kB disk fills long before
                classes.add_digit(db, ana.token, rng.integers(0, 256, (28, 28), np.uint8), 3)
                saved.append(index)
        message = str(error.value)
        assert "full" in message and "nothing was saved" in message, message
        assert len(saved) > 10
        assert len(classes.own_digits(db, ana.token).labels) == len(saved)
        assert classes.membership(db, ana.token).nickname == "Ana"  # reading still works


def test_the_class_page_says_so_and_keeps_running_on_a_read_only_disk(tmp_path, monkeypatch):
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_DATABASE_URL", raising=False)
    with tiny_disk(tmp_path / "disk", "1m") as disk:
        assert _mount("-o", "remount,ro", str(disk))
        monkeypatch.setenv("MNISTKIT_STATE_DIR", str(disk / "state"))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page("pages/class.py").run()
        next(i for i in at.text_input if i.label == "Class name").set_value("Year 9")
        next(b for b in at.button if b.label == "Create the class").click().run()
        assert not at.exception, [e.value for e in at.exception]
        (error,) = [e.value for e in at.error]
        assert "nothing was saved" in error and "\n" not in error
        at.switch_page("pages/train.py").run()  # the rest of the app works as before
        assert not at.exception and at.title[0].value == "Train a model"
