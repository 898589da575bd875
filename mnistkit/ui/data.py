"""The data set, loaded once per server and shared read-only by every visitor."""

from __future__ import annotations

import os

import streamlit as st
from streamlit.logger import get_logger

from mnistkit import plots
from mnistkit.data import Dataset, load_mnist

LOG = get_logger(__name__)  # the server's log, e.g. the terminal running `streamlit run`
LOADED_MESSAGE = "Loaded the shared data set: "  # logged each time the cache fills


@st.cache_resource(show_spinner="Loading the digits…")
def _shared_dataset(setting: str) -> Dataset:
    """Load the data set the way ``load_mnist("auto")`` chooses it; ``setting`` keys the cache."""
    del setting  # load_mnist reads MNISTKIT_DATA itself; the argument only keys the cache
    dataset = load_mnist("auto")
    LOG.info("%s%s", LOADED_MESSAGE, dataset.source)
    return dataset


def current_dataset() -> Dataset:
    """The data set chosen by ``MNISTKIT_DATA``; a loading problem stops the page, explained.

    A learner in a class who chose "Class digits" gets the class's own handwriting instead.
    """
    from mnistkit.ui.classroom import class_dataset

    chosen = class_dataset()
    if chosen is not None:
        return chosen
    try:
        return _shared_dataset(os.environ.get("MNISTKIT_DATA", ""))
    except ValueError as error:
        st.error(f"The digits could not be loaded: {error}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _shared_averages(setting: str, source: str):
    """The average training image of each digit, computed once per data set."""
    del setting, source  # they key the cache
    dataset = current_dataset()
    return plots.class_averages(dataset.x_train, dataset.y_train)


def training_averages():
    """The mean training image of each digit 0-9 for the current data set, ``(10, 28, 28)``."""
    return _shared_averages(os.environ.get("MNISTKIT_DATA", ""), current_dataset().source)
