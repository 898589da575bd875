"""The server process never loads Keras, JAX or scikit-learn, whatever models its visitors use.

The real app runs under `streamlit run`, driven by Chromium: a ready-made Keras model and a
ready-made scikit-learn MLP in MNISTKIT_MODELS_DIR, a Keras MLP and a scikit-learn MLP trained
on the Train page, a `.keras` file uploaded there and downloaded again, then Draw, Evaluate and
Compare reading digits with them. Afterwards the server process itself is inspected: no
`jaxlib` / `xla_extension` or scikit-learn library is mapped into it (/proc/PID/maps), and none
of `keras`, `jax`, `sklearn` or `skops` is among its imported modules; its worker processes,
which did that work, do have JAX mapped.

The server is started as `streamlit run` is, through Streamlit's own command-line entry point,
from a few lines of Python that also answer "which modules are imported?" when a file asks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_helpers import (
    PREDICTION,
    digit_strokes,
    draw,
    error_texts,
    free_port,
    screenshot,
    wait_until_healthy,
)
from browser_helpers import wait_for_idle as wait_for_page
from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# `streamlit run`, plus a thread that writes sys.modules to a file whenever it is asked to.
SERVE = """
import os, sys, threading, time
from pathlib import Path
answer = Path(os.environ["MODULES_PROBE"])
ask = answer.with_suffix(".ask")
def listen():
    while True:
        if ask.exists():
            answer.write_text("\\n".join(sorted(sys.modules.copy())))
            ask.unlink()
        time.sleep(0.2)
threading.Thread(target=listen, daemon=True).start()
from streamlit.web import cli
sys.argv = ["streamlit", "run", *sys.argv[1:]]
sys.exit(cli.main())
"""
SLOW_MS = 300_000  # workers import Keras, and the server loads data, on a shared, busy machine
HEAVY_LIBRARIES = ("jaxlib", "xla_extension", "/sklearn/")
HEAVY_MODULES = ("keras", "jax", "jaxlib", "sklearn", "skops")


def mapped_heavy_libraries(pid: int) -> list[str]:
    """The files mapped into process ``pid`` that belong to JAX's or scikit-learn's compiled
    libraries."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return sorted({line.split()[-1] for line in lines if any(n in line for n in HEAVY_LIBRARIES)})


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def imported_modules(probe: Path) -> set[str]:
    """The server's sys.modules, as its listening thread writes them."""
    probe.unlink(missing_ok=True)
    probe.with_suffix(".ask").write_text("")
    deadline = time.monotonic() + 30
    while not probe.exists() or probe.with_suffix(".ask").exists():
        assert time.monotonic() < deadline, "the server did not list its modules"
        time.sleep(0.2)
    return set(probe.read_text().split())


@pytest.fixture
def keras_files(tmp_path_factory):
    """A ready-made folder holding a Keras MLP and a scikit-learn MLP, and a second Keras MLP
    file to upload."""
    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.training import RunConfig, train

    sample = load_mnist("sample")
    folder = tmp_path_factory.mktemp("ready-made")
    ready = RunConfig("keras-mlp", hyperparameters={"hidden_layers": (64,)}, epochs=3)
    persistence.save(train(ready, sample), folder / "teacher")
    ready = RunConfig("sklearn-mlp", hyperparameters={"hidden_layers": (32,)}, epochs=2)
    persistence.save(train(ready, sample), folder / "teacher-sklearn")
    upload = RunConfig("keras-mlp", hyperparameters={"hidden_layers": (48, 24)}, epochs=3)
    path = persistence.save(train(upload, sample), tmp_path_factory.mktemp("upload") / "mine")
    return folder, path


@pytest.fixture
def server(chromium, keras_files, tmp_path):
    folder, _ = keras_files
    probe = tmp_path / "modules.txt"
    port = free_port()
    environment = {
        **os.environ,
        "MNISTKIT_DATA": "sample",
        "MNISTKIT_MODELS_DIR": str(folder),
        "MNISTKIT_WORKERS": "1",
        "MODULES_PROBE": str(probe),
    }
    command = [sys.executable, "-c", SERVE, "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--browser.gatherUsageStats", "false"]
    log = ROOT / "artifacts" / "server-light.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield process, url, probe
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def picked_model(page) -> str:
    """What the page's model picker shows (its label, and the chosen model's name)."""
    picker = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first
    return picker.evaluate(
        "box => box.textContent + ' ' + "
        "Array.from(box.querySelectorAll('input'), input => input.value).join(' ')"
    )


def wait_for_idle(page) -> None:
    wait_for_page(page, timeout=SLOW_MS)


def go_to(page, label: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).click()
    wait_for_idle(page)


def test_keras_and_sklearn_models_are_trained_read_and_used_without_them_in_the_server(
    server, browser, keras_files
):
    process, url, probe = server
    _, upload = keras_files
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(SLOW_MS)

    # Train a Keras MLP through the Train page: the job runs in a worker process.
    page.goto(f"{url}/train?model=keras-mlp&hidden_layers=32&epochs=3")
    wait_for_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("is ready: it reads").wait_for()
    wait_for_idle(page)
    # And a scikit-learn MLP: trained in a worker too, and kept by the server as arrays.
    page.goto(f"{url}/train?model=sklearn-mlp&hidden_layers=24&epochs=2")
    wait_for_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"scikit-learn MLP 24 .*is ready: it reads")).wait_for()
    wait_for_idle(page)

    # Upload a .keras file, then download it again: the very bytes come back.
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.get_by_text("was added to your models").wait_for()
    wait_for_idle(page)
    assert error_texts(page) == []
    with page.expect_download() as download:
        page.locator('[data-testid="stDownloadButton"] button').last.click()
    assert Path(download.value.path()).read_bytes() == upload.read_bytes()
    screenshot(page, "light-server-train")

    # Draw, Evaluate and Compare read with the Keras models, as arrays.
    go_to(page, "Draw")
    draw(page, digit_strokes(1, 150, 140, 160))
    page.wait_for_function(
        "selector => document.querySelector(selector)?.innerText.includes('Prediction:')",
        arg=PREDICTION,
    )
    assert "Keras MLP 48-24" in picked_model(page)  # the uploaded file reads the digit
    go_to(page, "Evaluate")
    assert "Keras MLP 48-24" in picked_model(page)
    assert error_texts(page) == []
    go_to(page, "Compare")
    page.get_by_role("tab", name="Where the models disagree").click()
    wait_for_idle(page)
    assert error_texts(page) == []
    screenshot(page, "light-server-compare")

    assert mapped_heavy_libraries(process.pid) == []
    modules = imported_modules(probe)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == []
    assert {"mnistkit.network", "mnistkit.persistence"} <= modules  # the listing is the server's
    # The Keras work did happen, in the server's own worker processes.
    workers = children(process.pid)
    assert any(mapped_heavy_libraries(pid) for pid in workers), workers
