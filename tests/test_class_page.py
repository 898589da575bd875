"""The Class page in AppTest: create a class, join it, get the work back, the teacher's view.

Run on the bundled sample with a real SQLite file in a temporary MNISTKIT_STATE_DIR.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

from mnistkit.classroom import classes, database

APP = str(ROOT / "app.py")
MODELS_KEY = "mnistkit_models"


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    monkeypatch.delenv("MNISTKIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("MNISTKIT_PUBLIC_URL", raising=False)
    monkeypatch.setenv("MNISTKIT_STATE_DIR", str(tmp_path / "state"))
    yield tmp_path / "state"
    database.forget_databases()


def class_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()  # the home page first, as a visitor's browser opens the app
    at.switch_page("pages/class.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def form_input(at: AppTest, label_start: str):
    return next(i for i in at.text_input if i.label.startswith(label_start))


def press(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_a_teacher_creates_a_class_and_sees_its_code_key_and_qr(state_dir):
    at = class_page()
    form_input(at, "Class name").set_value("Year 9")
    press(at, "Create the class")
    codes = [m.value for m in at.markdown if m.value.startswith("### Join code: ")]
    assert len(codes) == 1
    code = codes[0].removeprefix("### Join code: ").strip("`")
    shown = [c.value for c in at.code]
    key = next(value for value in shown if "?" not in value)
    assert any(value.endswith(f"/class?join={code}") for value in shown)
    assert any(f"code={code}&teacher={key}" in value for value in shown)
    assert any("localhost" in w.value for w in at.warning)  # learners could not open it
    assert [image.captions for image in at.image] == [["Scan to join"]]  # the QR code
    db = database.open_database()
    assert classes.check_teacher(db, code, key).name == "Year 9"


def test_a_learner_joins_and_a_new_session_brings_their_work_back(state_dir):
    db = database.open_database()
    new = classes.create_class(db, "Year 9")
    at = class_page({"join": new.code})
    assert form_input(at, "Join code").value == new.code
    form_input(at, "Nickname").set_value("Ana")
    press(at, "Join")
    assert any("as Ana" in s.value for s in at.success)
    member = at.session_state["class_membership"]
    from mnistkit.data import load_mnist
    from mnistkit.training import RunConfig, train
    from mnistkit.ui import classroom  # noqa: F401 (the hooks)

    trained = train(
        RunConfig(model="scratch-linear", train_size=500, epochs=1), load_mnist("sample")
    )
    classes.save_model(db, member.token, trained)
    classes.add_digit(db, member.token, np.full((28, 28), 9, np.uint8), 4)
    classes.save_settings(db, member.token, {"train_family": "scratch-linear"})

    again = class_page({"learner": member.token})  # a new session: reload, new tab, tomorrow
    assert again.session_state["class_membership"].nickname == "Ana"
    assert list(again.session_state[MODELS_KEY]) == [trained.name]
    assert again.session_state["handwriting_labels"].tolist() == [4]
    assert again.session_state["train_family"] == "scratch-linear"
    del classroom


def test_bad_input_gets_one_sentence_and_the_page_keeps_running(state_dir, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_LEARNERS", "1")
    db = database.open_database()
    new = classes.create_class(db, "Year 9")
    at = class_page()
    form_input(at, "Join code").set_value("WRONG9")
    form_input(at, "Nickname").set_value("Ana")
    press(at, "Join")
    assert errors(at) == [
        "There is no class with that join code; check the code with your teacher."
    ]
    form_input(at, "Join code").set_value(new.code)
    form_input(at, "Nickname").set_value("y" * 10_000)
    press(at, "Join")
    assert errors(at) == ["A nickname may be at most 24 characters long; this one has 10,000."]
    form_input(at, "Nickname").set_value("<img src=x onerror=1>")
    press(at, "Join")
    assert not errors(at)
    assert any(r"\<img src=x onerror=1\>" in s.value for s in at.success)  # shown as text

    other = class_page({"join": new.code})
    form_input(other, "Nickname").set_value("Ben")
    press(other, "Join")
    assert errors(other) == [
        f"Class {new.code} is full: it has 1 learners, the most a class may have "
        "(MNISTKIT_MAX_LEARNERS=1); ask your teacher."
    ]
    teacher = class_page({"code": new.code, "teacher": "not-the-key"})
    assert errors(teacher) == [
        f"That is not the teacher key of class {new.code}; open the teacher link you kept "
        "when you created it."
    ]


def test_the_teachers_view_shows_learners_digits_and_models(state_dir):
    db = database.open_database()
    new = classes.create_class(db, "Year 9")
    for nickname in ("Ana", "Ben"):
        member = classes.join_class(db, new.code, nickname)
        for label in range(5):
            image = np.zeros((28, 28), np.uint8)
            image[4:24, 10 + label : 14 + label] = 255
            classes.add_digit(db, member.token, image, label)
    at = class_page({"code": new.code, "teacher": new.teacher_key})
    assert at.header[0].value == "Teacher's view: Year 9"
    assert any("**10 digits**" in m.value for m in at.markdown)
    learners = at.table[0].value
    assert list(learners["Nickname"]) == ["Ana", "Ben"]
    assert list(learners["Digits"]) == [5, 5]


def test_a_learner_trains_and_evaluates_on_the_class_digits(state_dir):
    db = database.open_database()
    new = classes.create_class(db, "Year 9")
    member = classes.join_class(db, new.code, "Ana")
    # Three easy "digits" (a bar on the left, in the middle, on the right), ten of each; every
    # fifth digit is a test digit, so both halves hold every label and a model can learn them.
    for index in range(30):
        label = index % 3
        image = np.zeros((28, 28), np.uint8)
        image[4:24, 4 + 8 * label : 8 + 8 * label] = 255
        classes.add_digit(db, member.token, image, label)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["learner"] = member.token
    at.run()
    at.switch_page("pages/train.py").run()
    choice = next(r for r in at.sidebar.radio if r.label == "Digits to use on this page")
    assert choice.value == "MNIST"
    choice.set_value("Class digits").run()
    assert not at.exception, [e.value for e in at.exception]
    sources = [c.value for c in at.sidebar.caption]
    assert any(
        f"handwriting of class {new.code}: 24 training and 6 test digits" in s for s in sources
    )
    finish_run(next(b for b in at.form_submit_button if b.label == "Train").click().run())
    assert not at.exception, [e.value for e in at.exception]
    assert any("is ready: it reads" in s.value for s in at.success), [e.value for e in at.error]
    (trained,) = at.session_state[MODELS_KEY].values()
    assert trained.config.train_size is None and classes.own_models(db, member.token)
    # the address now links to the run's settings and still says who the learner is
    assert at.query_params["learner"] == member.token and at.query_params["model"]
    at.switch_page("pages/evaluate.py").run()  # the choice holds on the next page
    sources = [c.value for c in at.sidebar.caption]
    assert any(f"class {new.code}: 24 training" in s for s in sources)
    assert any("(of 6)" in m.label for m in at.metric)  # scored on the 6 class test digits
