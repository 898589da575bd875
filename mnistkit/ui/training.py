"""Training from the dashboard: live progress, the visitor's model list, downloads and uploads."""

from __future__ import annotations

import streamlit as st

from mnistkit import persistence, plots
from mnistkit.evaluation import chance_verdict
from mnistkit.training import RunConfig, settings_used
from mnistkit.ui import limits, state

LAST_RUN_KEY = "mnistkit_last_run"  # the name of the model trained last, shown until the next
# What the Draw page trains when a visitor has no model yet: on all 60,000 digits it takes a few
# seconds and reads about 97% of the test digits, and clearly drawn digits well.
QUICK_RUN = {"model": "sklearn-mlp", "hyperparameters": {"hidden_layers": (128,)}, "epochs": 5}


def run_training(config: RunConfig) -> None:
    """Queue the run as a job in a worker process; its progress and model come back by ticket.

    A run that cannot start (the queue is full, the visitor has one waiting, it cannot fit in
    memory) is explained in a sentence; nothing is lost.
    """
    from mnistkit.ui import jobs

    jobs.submit(config)


def last_run() -> None:
    """The newest model's score, the settings it used and its curves, until the next run.

    A run that ended near chance is called a failure, with its likely cause, not "ready".
    """
    entry = state.find_model(st.session_state.get(LAST_RUN_KEY))
    if entry is None:
        return
    trained = entry.trained
    verdict = chance_verdict(trained)
    if verdict is not None:
        st.error(
            f"**{entry.name}** finished training, but it is not worth using yet. {verdict} "
            "It stays in your list, marked, so you can compare it with the others.",
            icon=":material/error:",
        )
    else:
        accuracy = "" if trained.test_accuracy is None else f"{100 * trained.test_accuracy:.1f}% "
        st.success(
            f"**{entry.name}** is ready: it reads {accuracy}of the test digits correctly and "
            f"trained in {trained.seconds:.1f} s. It is now in your list of models.",
            icon=":material/check_circle:",
        )
    with st.container(key="last_run_settings"):
        st.caption(f"Settings used: {settings_used(trained.config)}.")
    st.plotly_chart(plots.training_figure(trained.history), width="stretch", key="last_run")


def quick_config() -> RunConfig:
    """The quick model's run settings."""
    return RunConfig(**QUICK_RUN)


def quick_model() -> None:
    """The Draw page's offer of a quick model when a visitor has none, trained as a job.

    The run is the same for everyone, so a class's server trains it once, in a worker; every
    later visitor who asks gets it at once. While it waits or trains, its progress is shown.
    """
    from mnistkit.ui import jobs

    jobs.notice()
    if not jobs.active():
        pressed = st.button("Train a quick model", type="primary", icon=":material/bolt:")
        if pressed and jobs.submit(quick_config()) and not jobs.active():
            st.rerun()  # ready at once (trained before on this server): the pad shows
    jobs.progress()  # reruns the page once the model is in the visitor's list


def model_list() -> None:
    """The visitor's models, each with a download button and a remove button."""
    entries = state.all_models()
    if not entries:
        st.caption("None yet. Train one above, or upload a model file below.")
    for entry in entries:
        name, download, remove = st.columns([6, 2, 1], vertical_alignment="center")
        failed = state.reads_no_better_than_chance(entry)
        name.write(f"{entry.label} ⚠ reads no better than chance" if failed else entry.label)
        download.download_button(
            "Download",
            data=lambda trained=entry.trained: persistence.dumps(trained)[0],
            file_name=persistence.suggested_filename(entry.trained),
            mime="application/octet-stream",
            icon=":material/download:",
            on_click="ignore",
            key=f"download_{entry.name}",
        )
        if not entry.ready_made and remove.button(
            "", icon=":material/delete:", key=f"remove_{entry.name}", help="Remove from your list"
        ):
            state.remove_model(entry.name)
            st.rerun()


def _take_upload() -> None:
    """Load an uploaded model file safely; a bad file gives one sentence and changes nothing."""
    upload = st.session_state.get("model_upload")
    if upload is None:
        return
    try:
        state.check_room()  # before reading a file that could not be kept anyway
        data = upload.getvalue()
        limits.check_upload(len(data), upload.name)  # the server's cap, before any reading
        name = state.add_model(state.read_model_file(data, upload.name))
    except ValueError as error:
        st.session_state.upload_message = ("error", f"{upload.name} was not added: {error}")
        return
    st.session_state.upload_message = ("success", f"{name} was added to your models.")


def model_upload() -> None:
    """Add a saved model file (``.npz``, ``.skops`` or ``.keras`` saved by mnistkit)."""
    st.file_uploader(
        "Add a model file saved by mnistkit (.npz, .skops or .keras)",
        type=["npz", "skops", "keras"],
        key="model_upload",
        on_change=_take_upload,
        help="Files are opened safely: mnistkit never runs code from a file.",
    )
    kind, message = st.session_state.pop("upload_message", (None, None))
    if kind == "error":
        st.error(message, icon=":material/error:")
    elif kind == "success":
        st.success(message, icon=":material/check_circle:")
