"""The house rules about model families, read from the source with ``ast``.

Each family owns its file format and its learned state (``models/<family>.py``). Everything
outside ``mnistkit/models/`` knows a model only through the protocol of ``models/base.py``:
no module there reads a family's learned attributes (``coef_``, ``estimator_``, ``model_``, ...),
imports from a family's module (``KERAS_LOCK`` and the like), or holds a table keyed by family
names. ``persistence.py`` and ``teaching.py``, the modules that used to know the families, do not
even name a family or its file suffix.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mnistkit.models import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mnistkit"
# Learned attributes every model has by the protocol, read by training, saving and the CLI.
PROTOCOL_ATTRIBUTES = {"classes_", "loss_curve_"}
# SQLAlchemy's column operators end in an underscore too (column.in_(...), column.is_(None)).
SQL_OPERATORS = {"in_", "is_", "not_in_", "isnot_", "and_", "or_", "not_"}
LEARNED = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]_$")  # coef_, estimator_; not __dunder__
ALLOWED_MODEL_IMPORTS = {"mnistkit.models", "mnistkit.models.base"}
FAMILY_NAMES = set(REGISTRY)
FAMILY_SUFFIXES = {model.file_suffix for model in REGISTRY.values()}
ENVELOPES = ("persistence.py", "teaching.py")


def outside_models() -> list[Path]:
    modules = [path for path in PACKAGE.rglob("*.py") if (PACKAGE / "models") not in path.parents]
    modules += [*(ROOT / "pages").glob("*.py"), ROOT / "app.py"]
    return sorted(path for path in modules if path.is_file())


def learned_attribute_reads(tree: ast.AST) -> list[str]:
    """``x.coef_`` and ``getattr(x, "coef_")``-style uses of a learned attribute, by line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and LEARNED.match(node.attr):
            name = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and LEARNED.match(node.args[1].value)
        ):
            name = node.args[1].value
        else:
            continue
        if name not in PROTOCOL_ATTRIBUTES | SQL_OPERATORS:
            found.append(f"line {node.lineno}: {name}")
    return found


def family_module_imports(tree: ast.AST) -> list[str]:
    """Imports from a family's own module (``mnistkit.models.keras_mlp`` and so on)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
            if node.module == "mnistkit.models":  # from mnistkit.models import keras_mlp
                modules += [
                    f"mnistkit.models.{alias.name}"
                    for alias in node.names
                    if (PACKAGE / "models" / f"{alias.name}.py").is_file()
                ]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            if isinstance(node, ast.Name | ast.Attribute) and "KERAS_LOCK" in ast.unparse(node):
                found.append(f"line {node.lineno}: KERAS_LOCK")
            continue
        for module in modules:
            if module.startswith("mnistkit.models.") and module not in ALLOWED_MODEL_IMPORTS:
                found.append(f"line {node.lineno}: {module}")
    return found


def family_keyed_tables(tree: ast.AST) -> list[str]:
    """Dictionaries written with two or more family names as keys."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if len(keys & FAMILY_NAMES) >= 2:
                found.append(f"line {node.lineno}: {sorted(keys & FAMILY_NAMES)}")
    return found


def family_constants(tree: ast.AST) -> list[str]:
    """String constants naming a family or its file suffix (docstrings are not constants here)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and id(node) not in docstrings
        and node.value in FAMILY_NAMES | FAMILY_SUFFIXES
    ]


def house_problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = [f"reads learned attribute {what}" for what in learned_attribute_reads(tree)]
    problems += [f"imports a family's module, {what}" for what in family_module_imports(tree)]
    problems += [f"holds a family-keyed table, {what}" for what in family_keyed_tables(tree)]
    if path.name in ENVELOPES and path.parent == PACKAGE:
        problems += [f"names a family or suffix, {what}" for what in family_constants(tree)]
    return problems


@pytest.mark.parametrize("path", outside_models(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_outside_models_knows_how_a_family_is_stored(path):
    assert house_problems(path) == []


def test_the_rules_catch_the_old_persistence_and_teaching():
    """The checks are not vacuous: code like the pre-issue-12 modules breaks every one."""
    old = """
SUFFIXES = {"scratch-linear": ".npz", "sklearn-mlp": ".skops", "keras-mlp": ".keras"}

def _write_keras(trained, path):
    from mnistkit.models.keras_mlp import KERAS_LOCK
    with KERAS_LOCK:
        save(trained.model.model_, path)

def is_linear(model):
    return getattr(model, "coef_", None) is not None and hasattr(model, "intercept_")
"""
    tree = ast.parse(old)
    assert len(learned_attribute_reads(tree)) == 3  # model_, "coef_", "intercept_"
    assert [line.split(": ")[1] for line in family_module_imports(tree)] == [
        "mnistkit.models.keras_mlp",
        "KERAS_LOCK",
    ]
    assert len(family_keyed_tables(tree)) == 1
    assert len(family_constants(tree)) == 6
