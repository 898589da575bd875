"""mnistkit's dashboard (`streamlit run app.py`): routes to the pages, draws the shared sidebar."""

import streamlit as st

from mnistkit.memory import limit_allocator_arenas
from mnistkit.ui.classroom import class_session
from mnistkit.ui.sidebar import show_sidebar

# The server trains nothing (workers do): a drawing's arrays get mappings of their own, and
# freed memory goes back to the system at once, so a class leaves no lasting weight behind.
limit_allocator_arenas(mapped_from=256 << 10, keep_free=1 << 20)

st.set_page_config(page_title="mnistkit", page_icon="✏️", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page(
        "pages/data.py", title="Look at the digits", icon=":material/grid_on:", url_path="data"
    ),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(
        "pages/evaluate.py", title="Evaluate", icon=":material/fact_check:", url_path="evaluate"
    ),
    st.Page(
        "pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"
    ),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("pages/class.py", title="Class", icon=":material/school:", url_path="class"),
]
current = st.navigation(pages)
class_session()  # a learner who joined a class gets their saved work back
show_sidebar(load_ready_made=current.url_path != "")  # the home page stays light
current.run()
