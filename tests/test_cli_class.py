"""``mnistkit class ...``: create, list, export and delete classes from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistkit.classroom import classes, database
from mnistkit.cli import main
from mnistkit.data import load_mnist

ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.fixture
def class_db(database_url, monkeypatch):
    monkeypatch.setenv("MNISTKIT_DATABASE_URL", database_url)
    return database.open_database(database_url)


def _created(capsys, name: str) -> tuple[str, str]:
    assert main(["class", "create", name]) == 0
    lines = capsys.readouterr().out.splitlines()
    code = next(line for line in lines if line.startswith("join code: ")).split(": ")[1]
    key = next(line for line in lines if line.startswith("teacher key: ")).split(": ")[1]
    return code, key


def test_create_list_export_delete(class_db, capsys, tmp_path):
    code, key = _created(capsys, "Year 9")
    assert classes.check_teacher(class_db, code, key).name == "Year 9"
    member = classes.join_class(class_db, code, "Ana")
    for label in range(6):
        classes.add_digit(class_db, member.token, np.full((28, 28), 20 * label, np.uint8), label)

    assert main(["class", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["code", "learners", "digits", "expires", "name"]
    assert listing[1].split()[:3] == [code, "1", "6"] and listing[1].endswith("Year 9")

    assert main(["class", "export", code, "--out", str(tmp_path / "class.npz")]) == 0
    assert "exported 6 digits (5 train, 1 test)" in capsys.readouterr().out
    exported = load_mnist(tmp_path / "class.npz")
    assert sorted([*exported.y_train, *exported.y_test]) == list(range(6))
    assert main(["class", "export", code.lower(), "--out", str(tmp_path / "idx")]) == 0
    capsys.readouterr()
    assert np.array_equal(load_mnist(tmp_path / "idx").x_test, exported.x_test)

    assert main(["class", "delete", code]) == 0
    assert f"deleted class {code} (Year 9)" in capsys.readouterr().out
    assert classes.list_classes(class_db) == []


def test_errors_are_one_line_with_a_non_zero_exit(class_db, capsys):
    assert main(["class", "delete", "NOSUCH"]) == 2
    error = capsys.readouterr().err
    assert (
        error == "mnistkit: error: There is no class with that join code; check the code "
        "with your teacher.\n"
    )
    code, _ = _created(capsys, "Empty")
    assert main(["class", "export", code, "--out", "x.npz"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["class", "create", "x" * 500]) == 2
    assert "at most 80 characters" in capsys.readouterr().err


def test_an_unusable_database_url_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mnistkit", "class", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "MNISTKIT_DATABASE_URL": "mysql://nowhere/db", "PYTHONPATH": ROOT},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "SQLite and PostgreSQL" in result.stderr
