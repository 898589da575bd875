"""Class: a teacher starts a class; learners join it, and their work is saved as they make it."""

import streamlit as st

from mnistkit.ui.classroom import (
    create_panel,
    learner_panel,
    teacher_form,
    teacher_login,
    teacher_view,
)
from mnistkit.ui.router import through_the_router

through_the_router()  # a page opened by its own address still gets app.py's sidebar

st.title("Class")
st.write(
    "In a class, each learner's models, handwriting digits and Train settings are saved as they "
    "are made, so a reload or tomorrow's lesson brings them back, and the teacher sees the "
    "class's pooled handwriting and how well every model reads it. Learners join with a code and "
    "a nickname only."
)

teacher = teacher_login()
if teacher is not None:
    teacher_view(*teacher)
    st.stop()

learner_panel()
st.divider()
create_panel()
st.divider()
teacher_form()
