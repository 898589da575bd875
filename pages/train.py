"""Train: choose a model and its settings, watch it learn, keep the result."""

import streamlit as st

from mnistkit.ui.classroom import data_set_choice, keeping_note
from mnistkit.ui.controls import share_link, train_controls
from mnistkit.ui.data import current_dataset
from mnistkit.ui.jobs import notice, progress
from mnistkit.ui.router import through_the_router
from mnistkit.ui.training import last_run, model_list, model_upload, run_training

through_the_router()  # a page opened by its own address still gets app.py's sidebar

data_set_choice()  # a learner in a class may use the class's own digits
dataset = current_dataset()

st.title("Train a model")
st.write(
    "Pick a kind of network and its settings, then press Train. During each epoch the model "
    "sees every training digit once and nudges its weights to make fewer mistakes; the chart "
    "shows the loss (how wrong it is, lower is better) and the share of digits it gets right."
)
st.caption(
    "Some training digits are held out each epoch to check the model on digits it is not "
    "learning from; the final score comes from the separate test digits."
)

config = train_controls(len(dataset.y_train))
if config is not None:
    run_training(config)  # queued: the run trains in a worker process, not in this page
progress()  # place in the queue, then each epoch's curves; Stop
notice()
last_run()
share_link()

st.subheader("Your models")
st.write(keeping_note())
model_list()
model_upload()
