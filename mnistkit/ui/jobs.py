"""Training from the dashboard as queued jobs: submit, watch, Stop, and collect the model.

The queue (``mnistkit.jobs``) is one per server, shared by every visitor; what a visitor holds is
a ticket in ``st.session_state``. Their place, the estimated wait and each epoch's curves redraw
in a fragment every second (``st.fragment(run_every=...)``), so the page itself is not rerun.
The visitor can go to another page: the run goes on, the sidebar shows how far it is, and the
finished model joins their list on whichever page they are.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import streamlit as st

from mnistkit.ui import limits, state
from mnistkit.ui.data import _shared_dataset, current_dataset

if TYPE_CHECKING:  # the sidebar imports this module on every page, the light home page too
    from mnistkit.training import RunConfig

TICKET_KEY = "mnistkit_job_ticket"  # the visitor's run in the server's queue, if any
VISITOR_KEY = "mnistkit_visitor"  # who the visitor is to the queue (one run each at a time)
NOTICE_KEY = "mnistkit_job_notice"  # (kind, sentence) about the last run, shown once
LAST_RUN_KEY = "mnistkit_last_run"  # the Train page's "NAME is ready" (as in ui/training.py)
# Compare's walkthrough and learning curves are series of runs, queued one after another like
# Train's: the series under way (its tag), the part the visitor's ticket is for, and finished
# parts waiting for their page to file them (they do not join the visitor's list of models).
SERIES_KEY = "mnistkit_job_series"
PART_KEY = "mnistkit_job_part"
FINISHED_PARTS_KEY = "mnistkit_job_finished_parts"
# How often a visitor's page looks at their run. A running run shows each epoch within a
# second; a waiting one changes only when a run ahead of it ends, so its place is looked at
# less often, as is the sidebar's line on other pages: with a class in the queue, these looks
# are most of what the server spends on the ones waiting (bench/class_bench.py).
CHART_KEY = "mnistkit_job_chart"  # (ticket, the run's training figure) while a page follows it
REFRESH_SECONDS = 1.0
WAITING_REFRESH_SECONDS = 3.0
SIDEBAR_REFRESH_SECONDS = 3.0
REUSED = (
    "An identical run (same family, settings, digits, epochs and seed) was already trained on "
    "this server, so its model is ready at once."
)


@st.cache_resource(show_spinner=False)
def _shared_queue(data_setting: str, scheduler: str):
    """One queue and its workers per server (a change of data or cluster makes a new one)."""
    del data_setting, scheduler  # they key the cache; from_environment reads them itself
    from mnistkit import jobs

    return jobs.from_environment()


def shared_queue():
    return _shared_queue(
        os.environ.get("MNISTKIT_DATA", ""), os.environ.get("MNISTKIT_DASK_SCHEDULER", "")
    )


@st.cache_resource(show_spinner=False)
def _data_fingerprint(data_setting: str, source: str) -> str:
    del source  # with the setting, it keys the cache
    from mnistkit.jobs import fingerprint

    return fingerprint(_shared_dataset(data_setting))


def _visitor() -> str:
    return st.session_state.setdefault(VISITOR_KEY, uuid.uuid4().hex)


def submit(config: RunConfig, part: dict | None = None) -> bool:
    """Queue a training run for this visitor; a refusal is shown as one sentence.

    ``part`` makes it one run of a series (``{"tag": ..., "label": ..., "size": ...}``): its
    model is then handed to ``finished_parts(tag)`` instead of joining the visitor's list.
    """
    from mnistkit.jobs import fingerprint, job_spec

    dataset = current_dataset()
    setting = os.environ.get("MNISTKIT_DATA", "")
    shared = _shared_dataset(setting)
    if dataset is shared:  # the server's data set: the workers load the same one themselves
        spec = job_spec(config, _data_fingerprint(setting, dataset.source), dataset.n_train)
    else:  # a class's own handwriting: a few thousand digits at most, sent with the job
        spec = job_spec(config, fingerprint(dataset), dataset.n_train, digits=dataset)
    try:
        if part is None:
            state.check_room()  # refused before the work, not after
        limits.check_run(config.train_size or dataset.n_train, config.epochs)
        ticket = shared_queue().submit(_visitor(), spec)
    except ValueError as error:
        st.error(f"Training could not start: {error}", icon=":material/warning:")
        return False
    st.session_state[TICKET_KEY] = ticket
    if part is not None:
        st.session_state[PART_KEY] = part
    collect()  # an identical finished run is ready at once
    return True


def active() -> bool:
    return TICKET_KEY in st.session_state


def collect() -> None:
    """Take the visitor's finished run: its model joins their list; a failure is kept to show."""
    ticket = st.session_state.get(TICKET_KEY)
    if ticket is None:
        return
    queue = shared_queue()
    try:
        status = queue.status(ticket)
    except ValueError as error:  # the server restarted its queue
        st.session_state.pop(TICKET_KEY)
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    if status.active:
        return
    st.session_state.pop(TICKET_KEY)
    st.session_state.pop(CHART_KEY, None)
    part = st.session_state.pop(PART_KEY, None)
    queue.forget(ticket)
    if part is not None and status.state != "done":
        st.session_state.pop(SERIES_KEY, None)  # a failed or stopped part ends its series
    if status.state == "done":
        from mnistkit import persistence

        result = status.result
        # A Keras run's worker sent its network as arrays too: the server never loads Keras.
        reader = (lambda *_: result["reading"]) if "reading" in result else state.file_reader()
        try:
            trained = persistence.loads(result["model"], result["filename"], reader=reader)
            if part is not None:
                st.session_state.setdefault(FINISHED_PARTS_KEY, []).append((part, trained))
                return
            st.session_state[LAST_RUN_KEY] = state.add_model(trained)
        except ValueError as error:
            st.session_state.pop(SERIES_KEY, None)
            st.session_state[NOTICE_KEY] = ("error", f"The finished model was not added: {error}")
            return
        if status.reused:
            st.session_state[NOTICE_KEY] = ("info", REUSED)
    elif status.state == "failed":
        st.session_state[NOTICE_KEY] = ("error", status.message)
    elif part is not None:
        st.session_state[NOTICE_KEY] = (
            "info",
            "Stopped: the run under way was dropped; every run that had finished is kept.",
        )
    else:
        st.session_state[NOTICE_KEY] = ("info", "Stopped: nothing from that run was kept.")


def finished_parts(tag) -> list:
    """The finished runs of series ``tag`` as (part, TrainedModel), taken from the session."""
    waiting = st.session_state.get(FINISHED_PARTS_KEY, [])
    mine = [(part, trained) for part, trained in waiting if part["tag"] == tag]
    st.session_state[FINISHED_PARTS_KEY] = [item for item in waiting if item[0]["tag"] != tag]
    return mine


def series_running(tag) -> bool:
    return st.session_state.get(SERIES_KEY) == tag


def start_series(tag) -> None:
    st.session_state[SERIES_KEY] = tag


def end_series(tag) -> None:
    if series_running(tag):
        st.session_state.pop(SERIES_KEY)


def part_active(tag) -> bool:
    """Whether the visitor's queued or running run is a part of series ``tag``."""
    part = st.session_state.get(PART_KEY)
    return active() and part is not None and part["tag"] == tag


def stop() -> None:
    """Cancel the visitor's run, waiting or training; nothing half-trained is kept."""
    ticket = st.session_state.get(TICKET_KEY)
    if ticket is not None:
        shared_queue().cancel(ticket)
        collect()


def notice() -> None:
    """The sentence about the visitor's last run (why it failed, stopped, or was ready at once)."""
    kind, message = st.session_state.pop(NOTICE_KEY, (None, None))
    if kind == "error":
        st.error(message, icon=":material/warning:")
    elif kind == "info":
        st.info(message, icon=":material/info:")


def progress() -> None:
    """The visitor's run as it goes: place and wait, then epochs and curves; and Stop."""
    if not active():
        return
    status = _status(st.session_state[TICKET_KEY])
    if status is not None and status.state == "waiting":
        _waiting_fragment()
    else:
        _progress_fragment()


@st.fragment(run_every=WAITING_REFRESH_SECONDS)
def _waiting_fragment() -> None:
    """The run's place while it waits; once it starts, the page follows it each second."""
    _show_progress(waiting=True)


@st.fragment(run_every=REFRESH_SECONDS)
def _progress_fragment() -> None:
    _show_progress(waiting=False)


def _show_progress(waiting: bool) -> None:
    ticket = st.session_state.get(TICKET_KEY)
    status = None if ticket is None else _status(ticket)
    if status is None or not status.active or waiting != (status.state == "waiting"):
        st.rerun(scope="app")  # the page, the sidebar and the model list show the result
    with st.container(key="job_progress"):
        if status.state == "waiting":
            st.info(
                f"Your run is number **{status.place}** in the queue ({status.waiting} waiting); "
                f"it should start in about {_duration(status.wait_seconds)}. You can visit "
                "other pages meanwhile.",
                icon=":material/hourglass_top:",
            )
        else:
            done = len(status.history)
            text = f"Epoch {done} of {status.epochs}" if done else "Starting the run…"
            if done:
                last = status.history[-1]
                text += f": mean loss {last['loss']:.3f}, {last['seconds']:.1f} s so far"
            st.progress(min(1.0, done / status.epochs), text=text)
            if done:
                st.plotly_chart(
                    _job_chart(ticket, list(status.history)), width="stretch", key="job_chart"
                )
        st.button("Stop", icon=":material/stop:", key="job_stop", on_click=stop)


def _job_chart(ticket: str, history: list[dict]):
    """The run's curves: built once per run, then grown by each epoch in place."""
    from mnistkit import plots

    held = st.session_state.get(CHART_KEY)
    if held is None or held[0] != ticket or not plots.update_training_figure(held[1], history):
        held = st.session_state[CHART_KEY] = (ticket, plots.training_figure(history))
    return held[1]


def sidebar_progress(page: str) -> None:
    """A line in the sidebar while the visitor's run waits or trains (the sidebar has just
    collected a finished one); on Train, whose page shows the run, it follows it only there."""
    if not active():
        return
    if page == "train":  # the page's progress() reruns each second; one follower is enough
        st.caption("Your run: its progress is on this page")
    else:
        _sidebar_fragment()


@st.fragment(run_every=SIDEBAR_REFRESH_SECONDS)
def _sidebar_fragment() -> None:
    ticket = st.session_state.get(TICKET_KEY)
    status = None if ticket is None else _status(ticket)
    if status is None or not status.active:
        st.rerun(scope="app")
    if status.state == "waiting":
        st.caption(f"Your run: number {status.place} in the queue")
    else:
        st.caption(f"Your run: epoch {len(status.history)} of {status.epochs}")


def _status(ticket: str):
    try:
        return shared_queue().status(ticket)
    except ValueError:
        return None


def _duration(seconds: float | None) -> str:
    if not seconds or seconds < 60:
        return f"{max(1, round(seconds or 0))} s"
    return f"{seconds / 60:.0f} min"
