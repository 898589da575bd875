"""What a new teacher met (issue 16, points 4-8): set-up on a stock machine, a class on the same
Wi-Fi, a projector and a phone, the Data page's up-close view, the offline message, the skip
reason for a missing MNIST."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, require
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

from mnistkit import plots, teaching
from mnistkit.links import shared_page_url
from mnistkit.ui.leaderboard import name_width

README = (ROOT / "README.md").read_text()
DEBIAN_PYTHON = Path("/usr/bin/python3")


def readme_commands() -> list[str]:
    """The README's two commands, in order: start the app, run the tests."""
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)[:2]


# --- 4. set-up on a stock machine ----------------------------------------------------------


def test_python_version_is_stated_before_the_commands_and_matches_pyproject():
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert required == ">=3.11"
    first_command = README.index("```bash")
    assert README.index("Python 3.11 or newer") < first_command


def test_both_commands_make_and_use_a_virtual_environment():
    start, tests = readme_commands()
    for command in (start, tests):
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert start.endswith("streamlit run app.py")
    assert tests.endswith('pip install -e ".[test,cluster]" && python -m pytest')


def _externally_managed(python: Path) -> bool:
    code = "import sysconfig, os; print(os.path.join(sysconfig.get_path('stdlib'), 'x'))"
    stdlib = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()
    return (Path(stdlib).parent / "EXTERNALLY-MANAGED").is_file()


@pytest.mark.slow
def test_the_commands_get_past_externally_managed_on_debians_own_python(tmp_path):
    """The README's environment steps, run with Debian's own Python, make pip usable."""
    require(
        DEBIAN_PYTHON.is_file() and _externally_managed(DEBIAN_PYTHON),
        "no externally managed system Python at /usr/bin/python3 (Debian: apt-get install "
        "python3 python3-venv)",
    )
    start, _ = readme_commands()
    make_and_use = start.split(" && pip install")[0].replace("python3", str(DEBIAN_PYTHON), 1)
    probe = "pip install --no-index --dry-run mnistkit-setup-probe"  # refused before any download
    bare = subprocess.run(
        ["bash", "-c", probe.replace("pip", f"{DEBIAN_PYTHON} -m pip", 1)],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "externally-managed-environment" in bare.stderr  # what the old README hit
    inside = subprocess.run(
        ["bash", "-c", f"{make_and_use} && which pip && {probe}"],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "externally-managed-environment" not in inside.stderr, inside.stderr
    assert str(tmp_path / ".venv" / "bin" / "pip") in inside.stdout.splitlines()
    assert "No matching distribution found for mnistkit-setup-probe" in inside.stderr


def test_the_readme_says_how_a_class_on_the_same_wifi_reaches_the_laptop():
    section = README.split("### A class on the same Wi-Fi", 1)[1].split("\n## ", 1)[0]
    assert "--server.address 0.0.0.0" in section and "MNISTKIT_PUBLIC_URL" in section
    assert "hostname -I" in section and "ipconfig" in section  # which address to hand out


def test_a_share_link_uses_the_public_address_and_says_when_it_is_local():
    local = shared_page_url("http://localhost:8501/train?x=1")
    assert local.url == "http://localhost:8501/train" and local.local_only
    assert shared_page_url("http://127.0.0.1:8501/train").local_only
    public = shared_page_url("http://localhost:8501/train", "http://192.168.1.20:8501/")
    assert public.url == "http://192.168.1.20:8501/train" and not public.local_only
    assert shared_page_url("http://10.0.0.5:8501/train").local_only is False
    assert shared_page_url("http://localhost:8501/train", "class.example.org").url == (
        "http://class.example.org/train"
    )


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    monkeypatch.delenv("MNISTKIT_PUBLIC_URL", raising=False)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()


def train_a_small_run(at: AppTest) -> None:
    at.switch_page("pages/train.py").run()
    at.select_slider(key="train_scratch-linear_train_size").set_value(1000)
    at.slider(key="train_scratch-linear_epochs").set_value(1)
    finish_run(at.form_submit_button[0].click().run())
    assert not at.exception


def test_the_train_page_share_link_follows_mnistkit_public_url(app, monkeypatch):
    train_a_small_run(app)
    (link,) = [c.value for c in app.code if "?model=" in c.value]
    assert any("localhost" in w.value for w in app.warning)  # AppTest has no address: local
    monkeypatch.setenv("MNISTKIT_PUBLIC_URL", "http://192.168.1.20:8501")
    app.run()
    (link,) = [c.value for c in app.code if "?model=" in c.value]
    assert link.startswith("http://192.168.1.20:8501/")
    assert not any("localhost" in w.value for w in app.warning)


# --- 5. a projector and a phone ------------------------------------------------------------


def test_pixel_numbers_are_readable_on_a_projector():
    figure = plots.pixel_figure(np.full((28, 28), 200, np.uint8))
    assert figure.data[0].textfont.size >= 12  # was 8
    assert figure.layout.height / 28 >= 2 * figure.data[0].textfont.size  # room in each cell


def test_the_f1_table_is_wide_enough_for_the_longest_model_name():
    names = ["Linear net (NumPy), cross entropy · 91.2%", "Linear net (NumPy), cross entropy, raw"]
    assert name_width(names) >= 7 * max(map(len, names))  # 200 px cut both to the same text
    assert name_width(["short"]) == 160


def test_the_learning_curve_labels_real_sizes_and_round_times():
    figure = plots.learning_curve_figure(
        [500, 1000, 5000, 60000], [0.8, 0.85, 0.9, 0.92], [0.039, 0.1, 0.426, 3.21]
    )
    layout = figure.to_dict()["layout"]
    assert {"500", "1,000", "5,000", "60,000"} <= set(layout["xaxis"]["ticktext"])
    times = layout["yaxis2"]["ticktext"]
    assert times[0] == "0" and all(len(t.replace(".", "").lstrip("0")) <= 2 for t in times)
    assert float(times[-1]) >= 3.21  # the longest time is inside the axis


@pytest.mark.parametrize("top", [0.426, 3.21, 17.0, 250.0])
def test_nice_ticks_are_round_and_cover_the_top(top):
    ticks = plots.nice_ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 6
    assert f"{step:g}".lstrip("0.").rstrip("0") in {"1", "2", "5"}


def test_the_every_model_heatmap_fits_a_phone():
    names = ["Linear net (NumPy), cross entropy · 91.2%", "Keras MLP 256-128 · 98.1%"]
    probabilities = np.zeros((2, 10))
    probabilities[:, 3] = 1
    heatmap = plots.readings_figure(names, probabilities).data[0]
    assert all(len(line) <= 26 for row in heatmap.y for line in row.split("<br>"))
    assert list(heatmap.text[0]) == ["", "", "", "100", "", "", "", "", "", ""]  # no 0000000


def test_no_two_lines_of_the_training_chart_share_a_colour():
    history = [{"loss": 1.0, "train_accuracy": 0.8, "validation_accuracy": 0.7, "seconds": 1}]
    colours = [trace.line.color for trace in plots.training_figure(history).data]
    assert len(colours) == 3 and len(set(colours)) == 3


def test_the_disagreement_notice_keeps_names_with_commas_whole():
    lines = teaching.disagreement_lines(
        {3: ["Linear net (NumPy), cross entropy", "Keras MLP"], 5: ["MLP, 64 units"]}
    )
    assert lines == [
        "Reads 3: “Linear net (NumPy), cross entropy” and “Keras MLP”",
        "Reads 5: “MLP, 64 units”",
    ]


def test_homes_compare_link_is_short_enough_for_a_phone(app):
    app.switch_page("pages/home.py").run()
    labels = [link.proto.label for link in app.get("page_link")]
    assert max(len(label) for label in labels) <= 20  # the long sentence is a caption now
    assert any("what more data" in c.value.lower() for c in app.caption)


# --- 6. the Data page ----------------------------------------------------------------------


def test_the_up_close_view_follows_the_filter(app):
    app.switch_page("pages/data.py").run()
    for digit in (7, 2):
        app.get("button_group")[0].set_value(digit).run()
        assert not app.exception
        (sentence,) = [m.value for m in app.markdown if m.value.startswith("Digit #")]
        assert f"is labelled **{digit}**" in sentence


# --- 7. the offline message ----------------------------------------------------------------


def test_the_offline_message_is_said_for_a_teacher(tmp_path, monkeypatch):
    """No network: the pages say it plainly; the technical detail stays in ``source``."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("MNISTKIT_DATA", raising=False)
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise socket.gaierror(-2, 'Name or service not known')\n"
        "socket.create_connection = refuse\n"
        "from mnistkit.data import load_mnist\n"
        "d = load_mnist('auto')\n"
        "print(d.headline); print('DETAIL', d.source)\n"
    )
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=environment
    )
    headline, detail = result.stdout.strip().split("\nDETAIL ")
    assert "could not reach the internet" in headline and "Every page works" in headline
    assert "Errno" not in headline and "googleapis" not in headline
    assert "storage.googleapis.com cannot be reached" in detail  # kept for the details box


# --- 8. the skip reason --------------------------------------------------------------------


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_missing_mnist_says_how_to_get_it_and_fails_in_ci(tmp_path, ci):
    test_file = tmp_path / "test_needs_mnist.py"
    test_file.write_text("from conftest import mnist_path\n\ndef test_it(mnist_path):\n    pass\n")
    environment = {
        **os.environ,
        "MNIST_NPZ": str(tmp_path / "nowhere" / "mnist.npz"),
        "CI": ci,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-q", str(test_file)],
        cwd=tmp_path, capture_output=True, text=True, env=environment,
    )  # fmt: skip
    output = result.stdout
    assert "load_mnist('download')" in output and "MNIST_NPZ=" in output, output[-800:]
    if ci:
        assert result.returncode != 0 and "1 error" in output  # fails in the fixture
    else:
        assert result.returncode == 0 and "1 skipped" in output
