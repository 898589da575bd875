"""The Train page on the job queue, through AppTest, with real worker processes on the sample.

Several visitors are several AppTests on one server (one queue, one worker here, so runs wait).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnistkit.ui.jobs import TICKET_KEY
from mnistkit.ui.state import MODELS_KEY

APP = Path(__file__).resolve().parent.parent / "app.py"
TIMEOUT = 180


@pytest.fixture(autouse=True)
def one_worker_on_the_sample(monkeypatch):
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.setenv("MNISTKIT_WORKERS", "1")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    monkeypatch.delenv("MNISTKIT_DASK_SCHEDULER", raising=False)
    yield
    from mnistkit.ui import jobs

    queue = jobs.shared_queue()
    for ticket in list(queue._tickets):
        queue.cancel(ticket)


def visitor() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("pages/train.py").run()
    return at


def press_train(at: AppTest, epochs: int, seed: int = 0, family: str = "sklearn-mlp"):
    at.radio(key="train_family").set_value(family).run()
    at.slider(key=f"train_{family}_epochs").set_value(epochs)
    at.number_input(key=f"train_{family}_seed").set_value(seed)
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    parts = [*at.info, *at.success, *at.error, *at.markdown, *at.caption]
    return "\n".join(str(p.value) for p in parts) + "\n".join(
        str(p.proto.text) for p in at.get("progress")
    )


def until(at: AppTest, condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if condition(at):
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out; the page says:\n{texts(at)}")


def own_models(at: AppTest) -> dict:
    return dict(at.session_state[MODELS_KEY]) if MODELS_KEY in at.session_state else {}


@pytest.mark.slow
def test_runs_queue_in_order_show_their_place_and_stop_while_waiting_or_running():
    ann, bob, cat = visitor(), visitor(), visitor()
    press_train(ann, epochs=60, seed=1)  # long: takes the only worker
    press_train(bob, epochs=2, seed=2)
    press_train(cat, epochs=2, seed=3)
    assert "number **1** in the queue" in texts(bob)
    assert "number **2** in the queue" in texts(cat)
    bob.button(key="job_stop").click().run()  # Stop while waiting
    assert TICKET_KEY not in bob.session_state and own_models(bob) == {}
    assert "nothing from that run was kept" in texts(bob)
    cat.run()
    assert "number **1** in the queue" in texts(cat)  # moved up
    until(ann, lambda at: re.search(r"Epoch \d+ of 60", texts(at)))  # running, not yet done
    ann.button(key="job_stop").click().run()  # Stop while running
    assert own_models(ann) == {} and "nothing from that run was kept" in texts(ann)
    until(cat, lambda at: own_models(at))  # cat's run then trains and joins her list
    ((name, trained),) = own_models(cat).items()
    assert trained.config.epochs == 2 and f"{name}** is ready: it reads" in texts(cat)


def test_a_visitor_can_leave_during_a_run_and_finds_the_model_on_return():
    dan = visitor()
    press_train(dan, epochs=30, seed=4)  # long enough to be under way when dan leaves
    dan.switch_page("pages/data.py").run()  # away, while the run waits or trains
    assert TICKET_KEY in dan.session_state
    until(dan, lambda at: own_models(at))  # it joins the list on the other page
    dan.switch_page("pages/train.py").run()
    (name,) = own_models(dan)
    assert f"{name}** is ready: it reads" in texts(dan)


def test_a_run_is_followed_once_on_the_train_page_and_in_the_sidebar_elsewhere():
    """Train shows the run as it goes, so its sidebar does not follow it a second time (each
    follower is a rerun every second for the server); other pages follow it in the sidebar."""
    fay = visitor()
    press_train(fay, epochs=60, seed=7)
    fay.run()  # the sidebar was drawn before the press; the next run shows the run there
    sidebar = lambda at: [str(c.value) for c in at.sidebar.caption]  # noqa: E731
    assert "Your run: its progress is on this page" in sidebar(fay)
    assert not any(re.match(r"Your run: (number|epoch)", c) for c in sidebar(fay))
    assert re.search(r"number \*\*1\*\* in the queue|Starting the run|Epoch \d+ of 60", texts(fay))
    fay.switch_page("pages/data.py").run()
    assert any(
        re.match(r"Your run: (number \d+ in the queue|epoch \d+ of 60)", c) for c in sidebar(fay)
    )
    fay.switch_page("pages/train.py").run()
    fay.button(key="job_stop").click().run()
    assert "nothing from that run was kept" in texts(fay)


def test_a_second_run_while_one_waits_is_refused_in_a_sentence():
    eve = visitor()
    press_train(eve, epochs=60, seed=5)
    press_train(eve, epochs=2, seed=6)
    assert "already have a run waiting or training" in texts(eve)
    assert not eve.exception


def test_an_identical_run_is_ready_at_once_for_the_next_visitor():
    fay, gus = visitor(), visitor()
    press_train(fay, epochs=2, seed=7)
    until(fay, lambda at: own_models(at))
    press_train(gus, epochs=2, seed=7)
    assert own_models(gus)  # no wait at all
    assert "already trained on this server, so its model is ready at once" in texts(gus)
