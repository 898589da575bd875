"""mnistkit's dashboard (`streamlit run app.py`): routes to the pages, draws the shared sidebar.

`streamlit run app.py` first imports this file as a module and serves its ``app``: Streamlit's
server, with Streamlit's own frontend files handed out from memory (each of a class's browsers
fetches about a hundred of them). Streamlit then runs the file as the app's script, as
``__main__``, for every visitor and every rerun.
"""

import streamlit as st
from starlette.middleware import Middleware
from streamlit.starlette import App

from mnistkit.memory import limit_allocator_arenas
from mnistkit.ui.classroom import class_session
from mnistkit.ui.serving import (
    FrontendFromMemory,
    slower_config_polling,
    sweeping_departed_sessions,
)
from mnistkit.ui.sidebar import show_sidebar


def main() -> None:
    """One run of the app's script: the navigation, the sidebar, then the chosen page."""
    # The server trains nothing (workers do): a drawing's arrays get mappings of their own, and
    # freed memory goes back to the system at once, so a class leaves no lasting weight behind.
    limit_allocator_arenas(mapped_from=256 << 10, keep_free=1 << 20)

    st.set_page_config(page_title="mnistkit", page_icon="✏️", layout="wide")

    pages = [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page(
            "pages/data.py", title="Look at the digits", icon=":material/grid_on:", url_path="data"
        ),
        st.Page(
            "pages/train.py", title="Train", icon=":material/model_training:", url_path="train"
        ),
        st.Page(
            "pages/evaluate.py", title="Evaluate", icon=":material/fact_check:", url_path="evaluate"
        ),
        st.Page(
            "pages/compare.py",
            title="Compare",
            icon=":material/compare_arrows:",
            url_path="compare",
        ),
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
        st.Page("pages/class.py", title="Class", icon=":material/school:", url_path="class"),
    ]
    current = st.navigation(pages)
    class_session()  # a learner who joined a class gets their saved work back
    show_sidebar(current.url_path)  # the home page stays light
    current.run()


if __name__ == "__main__":
    main()
else:  # imported by `streamlit run`, once, before any visitor comes
    slower_config_polling()
    app = App(
        __file__,
        middleware=[Middleware(FrontendFromMemory)],
        lifespan=sweeping_departed_sessions,
    )
