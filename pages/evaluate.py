"""Evaluate: how well a model reads the 10,000 test digits it never saw while training."""

import streamlit as st

from mnistkit import plots
from mnistkit.evaluation import mistakes
from mnistkit.ui import state
from mnistkit.ui.classroom import data_set_choice
from mnistkit.ui.confusion import confusion_explorer
from mnistkit.ui.data import current_dataset
from mnistkit.ui.leaderboard import digit_by_digit_table, leaderboard_table
from mnistkit.ui.router import through_the_router
from mnistkit.ui.widgets import digit_gallery, model_picker

through_the_router()  # a page opened by its own address still gets app.py's sidebar

data_set_choice()  # a learner in a class may use the class's own digits
dataset = current_dataset()

st.title("Evaluate a model")
st.write(
    f"A model is judged on the {len(dataset.y_test):,} test digits, which it never saw while "
    "learning. Here you see how many it reads correctly, which digits it mixes up, and the "
    "mistakes it was surest about."
)
entry = model_picker("Model to evaluate")
if entry is None:
    st.info("There is no model to evaluate yet: train one first.", icon=":material/info:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

evaluation = state.evaluation_of(entry, dataset)
trained = entry.trained
accuracy, correct, speed, seconds = st.columns(4)
accuracy.metric("Test accuracy", f"{100 * evaluation.accuracy:.1f}%")
correct.metric(f"Read correctly (of {evaluation.n_digits:,})", f"{evaluation.n_correct:,}")
speed.metric("Reading time (ms per digit)", f"{evaluation.latency_ms:.3f}")
seconds.metric("Training time (s)", f"{trained.seconds:.1f}")

st.subheader("Which digits does it mix up?")
st.write(
    "Each row holds the test digits of one true digit; each column, what the model answered. "
    "The diagonal is right, everything else is a mistake. Click a cell to see its digits."
)
confusion_explorer(evaluation, dataset.x_test)

st.subheader("Digit by digit")
st.write(
    "Precision: of the digits the model called 8, the share that were 8. "
    "Recall: of the true 8s, the share it found. F1 combines the two."
)
st.plotly_chart(
    plots.per_class_figure(evaluation.precision, evaluation.recall, evaluation.f1), width="stretch"
)
digit_by_digit_table(evaluation)

st.subheader("The surest mistakes")
st.write(
    "The wrong answers the model gave with most confidence. Some are sloppy handwriting, "
    "some even carry a wrong label, and some show what the model has not learned."
)
worst = mistakes(evaluation, limit=24)
digit_gallery(
    dataset.x_test[[mistake.index for mistake in worst]],
    [f"{m.true} read as {m.predicted} ({100 * m.confidence:.0f}%)" for m in worst],
    size=84,
)

st.subheader("All your models side by side")
st.write(
    "Every model in your list, read on the same test digits: what each one scores, what it "
    "cost to train, how fast it reads, how big it is, and how well it does digit by digit."
)
leaderboard_table(dataset)
