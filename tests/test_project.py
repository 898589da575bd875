"""The project as a whole: one list of dependencies, lint-clean code, Keras on JAX by default."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

from conftest import ROOT


def _requirement_names(lines: list[str]) -> dict[str, str]:
    """Map each requirement's normalised name to its full specifier."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
        found[re.sub(r"[-_.]+", "-", name).lower()] = line.replace(" ", "")
    return found


def test_requirements_txt_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = _requirement_names(pyproject["project"]["dependencies"])
    requirements = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert requirements == declared, (
        "requirements.txt (read by Streamlit Community Cloud) must list exactly the runtime "
        "dependencies of pyproject.toml"
    )


def test_code_passes_ruff():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _backend_after_import(environment: dict[str, str]) -> str:
    code = "import os, mnistkit; print(os.environ['KERAS_BACKEND'])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_keras_runs_on_jax_unless_the_user_chose_another_backend():
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    assert _backend_after_import(environment) == "jax"
    assert _backend_after_import({**environment, "KERAS_BACKEND": "numpy"}) == "numpy"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    (command,) = [
        line
        for line in readme.splitlines()
        if line.endswith('pip install -e ".[test,cluster]" && python -m pytest')
    ]
    assert command.startswith(
        "python3 -m venv .venv && "
    )  # works where pip refuses system installs
    assert command in ci.splitlines()
