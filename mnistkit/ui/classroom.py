"""Class mode in the dashboard: joining, work that survives a reload, and the teacher's view.

A learner who joins gets a token that this browser keeps in a cookie. From then on, every model
they add, every digit they label and their Train settings are saved to the class database as they
are made, and ``class_session`` (called by app.py on every run) brings them all back in a new
session: a reload, a new tab, the next day. Nothing a visitor typed is rendered as HTML: names go
into tables, captions and headings as plain text only.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import streamlit as st

from mnistkit.classroom import classes
from mnistkit.classroom.database import Database, open_database

COOKIE = "mnistkit_learner"
COOKIE_DAYS = 60
MEMBER_KEY = "class_membership"  # the Membership of this session's learner, if they joined
RESTORED_KEY = "class_restored"  # the cookie has been read once this session
NOTICE_KEY = "class_notice"  # (kind, sentence) about class mode, shown once in the sidebar
NEW_CLASS_KEY = "class_new"  # the class just created: its key is shown this once
TEACHER_KEY = "class_teacher"  # (code, key) once the teacher's key was checked
FORGET_KEY = "class_forget_cookie"  # the learner left: forget the cookie
SETTINGS_SAVED_KEY = "class_settings_saved"  # the Train settings as last saved (JSON text)
SETTINGS_SKIP = {"train_link_read", "train_link_notices", "train_link"}
PUBLIC_URL_VARIABLE = "MNISTKIT_PUBLIC_URL"


MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """Visitor text made inert in Streamlit's Markdown: every special character escaped."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def _db() -> Database:
    return open_database()


def member() -> classes.Membership | None:
    """This session's learner, when they have joined a class."""
    return st.session_state.get(MEMBER_KEY)


def _client() -> str:
    """Names this browser session for the limit on wrong join codes."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return context.session_id if context else ""


def _notice(kind: str, sentence: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, sentence)


# --- every run: bring the learner's work back, keep their settings ------------------------------


def class_session() -> None:
    """Restore a joined learner's work once per session, then keep their Train settings."""
    if not st.session_state.get(RESTORED_KEY):
        st.session_state[RESTORED_KEY] = True
        cookie = st.context.cookies.get(COOKIE)
        token = cookie if isinstance(cookie, str) and cookie else st.query_params.get("learner")
        if isinstance(token, str) and token:
            _restore(token)
    if member() is not None:
        _keep_settings()


def _restore(token: str) -> None:
    from mnistkit.ui import state, teaching

    try:
        db = _db()
        joined = classes.membership(db, token)
        models = classes.own_models(db, token, reader=state.file_reader())
        digits = classes.own_digits(db, token)
        settings = classes.load_settings(db, token)
    except classes.AccessError as error:
        st.session_state[FORGET_KEY] = True
        _notice("warning", str(error))
        return
    except ValueError as error:
        _notice("error", f"Your class work could not be loaded: {error}")
        return
    st.session_state[MEMBER_KEY] = joined
    own = st.session_state.setdefault(state.MODELS_KEY, {})
    for trained in models:
        own.setdefault(trained.name, trained)
    if len(digits.labels):
        st.session_state[teaching.IMAGES_KEY] = np.array(digits.images)
        st.session_state[teaching.LABELS_KEY] = np.array(digits.labels)
    for key, value in settings.items():
        if key.startswith("train_") and key not in SETTINGS_SKIP:
            st.session_state.setdefault(key, value)
    st.session_state[SETTINGS_SAVED_KEY] = json.dumps(settings, sort_keys=True)


def _keep_settings() -> None:
    settings = {
        key: value
        for key, value in st.session_state.items()
        if isinstance(key, str)
        and key.startswith("train_")
        and key not in SETTINGS_SKIP
        and (value is None or isinstance(value, str | int | float | bool))
    }
    text = json.dumps(settings, sort_keys=True)
    if text == st.session_state.get(SETTINGS_SAVED_KEY):
        return
    try:
        classes.save_settings(_db(), member().token, settings)
    except ValueError as error:
        _notice("error", f"Your Train settings were not saved to the class: {error}")
        return
    st.session_state[SETTINGS_SAVED_KEY] = text


# --- hooks: called where work is made -----------------------------------------------------------


def model_added(trained: Any) -> None:
    """Save a learner's new model to the class (state.add_model calls this)."""
    joined = member()
    if joined is None:
        return
    try:
        classes.save_model(_db(), joined.token, trained)
    except ValueError as error:
        name = plain(trained.name)
        _notice("error", f"{name} is in this tab but was not saved to the class: {error}")


def model_removed(name: str) -> None:
    joined = member()
    if joined is None:
        return
    try:
        classes.remove_model(_db(), joined.token, name)
    except ValueError as error:
        _notice("error", f"{plain(name)} is still saved in the class: {error}")


def digits_added(images: np.ndarray, labels: np.ndarray) -> None:
    """Save digits a learner just labelled (the handwriting set calls this)."""
    joined = member()
    if joined is None:
        return
    try:
        db = _db()
        for image, label in zip(images, labels, strict=True):
            classes.add_digit(db, joined.token, image, int(label))
    except ValueError as error:
        _notice("error", f"Your digit is in this tab but was not saved to the class: {error}")


def digits_emptied() -> None:
    joined = member()
    if joined is None:
        return
    try:
        classes.remove_own_digits(_db(), joined.token)
    except ValueError as error:
        _notice("error", f"Your digits are still saved in the class: {error}")


# --- what every page shows ----------------------------------------------------------------------


def status_in_sidebar() -> None:
    """One line on the class this learner is in, and any class-mode notice, in the sidebar."""
    joined = member()
    if joined is not None:
        st.caption("**Class**")
        st.caption(f"{plain(joined.class_name)} ({joined.code}), as {plain(joined.nickname)}")
        st.caption("Your models, digits and Train settings are saved as you make them.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, sentence = notice
        getattr(st, kind)(sentence)


def keeping_note() -> str:
    """Where models are listed: whether they survive a reload."""
    joined = member()
    if joined is not None:
        return (
            f"Every model you train is saved in class {joined.code}: a reload, a new tab or "
            "tomorrow in this browser brings it back."
        )
    return (
        "Every model you train stays here while this tab is open; a reload loses it. Download "
        "one to keep it, or join a class on the Class page to have your work saved."
    )


def handwriting_note() -> str:
    """Where the learner's handwriting set is kept."""
    joined = member()
    if joined is not None:
        return f"Each digit you add is saved in class {joined.code} and pooled with the class's."
    return "Your set stays in this browser session; download it to keep it."


def _cookie() -> None:
    """Keep (or forget) this browser's learner cookie."""
    from mnistkit.ui.components.learner_cookie import keep_cookie

    joined = member()
    if joined is not None:
        keep_cookie(COOKIE, joined.token, COOKIE_DAYS * 86400, key="learner_cookie")
    elif st.session_state.get(FORGET_KEY):
        keep_cookie(COOKIE, "", 0, key="learner_cookie")


# --- the class's digits as a data set (Train and Evaluate) -------------------------------------

DATA_CHOICE_KEY = "class_data_choice"  # True: the pages use the class's digits
DATA_CACHE_KEY = "class_data_cache"  # (signature, Dataset) of the class's digits
MNIST_CHOICE, CLASS_CHOICE = "MNIST", "Class digits"


def data_set_choice() -> None:
    """For a learner in a class: use MNIST or the class's own digits on this page."""
    joined = member()
    if joined is None:
        return
    widget = "class_data_widget"
    st.session_state[widget] = (
        CLASS_CHOICE if st.session_state.get(DATA_CHOICE_KEY) else MNIST_CHOICE
    )

    def chosen() -> None:
        st.session_state[DATA_CHOICE_KEY] = st.session_state[widget] == CLASS_CHOICE

    st.sidebar.radio(
        "Digits to use on this page",
        [MNIST_CHOICE, CLASS_CHOICE],
        key=widget,
        on_change=chosen,
        horizontal=True,
        help="Class digits: the handwriting your class labelled on the Draw page, every fifth "
        "digit kept aside as a test digit.",
    )


def class_dataset():
    """The class's digits as a ``Dataset`` when the learner chose them; else ``None``."""
    joined = member()
    if joined is None or not st.session_state.get(DATA_CHOICE_KEY):
        return None
    from mnistkit.data import Dataset

    try:
        db = _db()
        signature = classes.pooled_signature(db, joined.token)
        cached = st.session_state.get(DATA_CACHE_KEY)
        if cached is not None and cached[0] == signature:
            return cached[1]
        arrays = classes.export_arrays(classes.pooled_digits(db, joined.token))
    except ValueError as error:
        st.warning(f"Using MNIST instead of the class's digits: {error}", icon=":material/info:")
        return None
    for array in arrays.values():
        array.setflags(write=False)
    dataset = Dataset(
        **arrays,
        source=(
            f"the handwriting of class {joined.code}: {len(arrays['y_train']):,} training and "
            f"{len(arrays['y_test']):,} test digits"
        ),
    )
    st.session_state[DATA_CACHE_KEY] = (signature, dataset)
    return dataset


# --- links --------------------------------------------------------------------------------------


def page_address() -> tuple[str, str | None]:
    """The Class page's address for links, and a sentence when learners may not reach it."""
    public = os.environ.get(PUBLIC_URL_VARIABLE, "").strip().rstrip("/")
    if public:
        return f"{public}/class", None
    current = urlsplit(st.context.url or "http://localhost:8501/class")
    path = current.path.rstrip("/")
    path = path if path.endswith("/class") else f"{path.rsplit('/', 1)[0]}/class"
    address = f"{current.scheme}://{current.netloc}{path}"
    host = (current.hostname or "").lower()
    if host in {"localhost", "127.0.0.1", "::1"} or host.endswith(".localhost"):
        return address, (
            "This link points at localhost, which only this computer can open; start the "
            "server with --server.address 0.0.0.0 and set MNISTKIT_PUBLIC_URL to the address "
            "learners' devices reach (e.g. http://192.168.1.20:8501)."
        )
    return address, None


def join_link(code: str) -> str:
    return f"{page_address()[0]}?{urlencode({'join': code})}"


def teacher_link(code: str, key: str) -> str:
    return f"{page_address()[0]}?{urlencode({'code': code, 'teacher': key})}"


def qr_png(link: str) -> bytes:
    """A QR code of ``link`` as PNG bytes, large enough to scan from a projector."""
    import segno

    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue()


# --- the Class page's parts -------------------------------------------------------------------


def learner_panel() -> None:
    """For a learner: the class they are in, or the form to join one."""
    _cookie()
    joined = member()
    if joined is not None:
        st.success(
            f"You are in class {plain(joined.class_name)} ({joined.code}) as "
            f"{plain(joined.nickname)}. Your "
            "models, handwriting digits and Train settings are saved as you make them; this "
            "browser brings them back after a reload, in a new tab or tomorrow.",
            icon=":material/school:",
        )
        if st.button("Leave the class on this browser", icon=":material/logout:"):
            st.session_state.pop(MEMBER_KEY, None)
            st.session_state[FORGET_KEY] = True
            st.rerun()
        return
    st.subheader("Join a class")
    st.write("Type the code your teacher shows and a nickname; no e-mail, no password.")
    code_given = st.query_params.get("join", "")
    with st.form("class_join", border=True):
        code = st.text_input("Join code", value=code_given, max_chars=16, key="class_join_code")
        nickname = st.text_input(
            f"Nickname (up to {classes.caps.NICKNAME_CHARACTERS} characters)",
            key="class_join_nickname",
        )
        submitted = st.form_submit_button("Join", type="primary", icon=":material/login:")
    if submitted:
        try:
            joined = classes.join_class(_db(), code, nickname, client=_client())
        except ValueError as error:
            st.error(str(error), icon=":material/error:")
            return
        st.session_state[MEMBER_KEY] = joined
        st.session_state.pop(FORGET_KEY, None)
        _save_session_work(joined)
        st.rerun()


def _save_session_work(joined: classes.Membership) -> None:
    """What the learner made before joining goes into the class too."""
    from mnistkit.ui import state, teaching

    for entry in state.all_models(load_ready_made=False):
        if not entry.ready_made:
            model_added(entry.trained)
    labels = st.session_state.get(teaching.LABELS_KEY)
    if labels is not None and len(labels):
        digits_added(st.session_state[teaching.IMAGES_KEY], labels)


def create_panel() -> None:
    """For a teacher: create a class; its code, link, QR code and key are shown once."""
    st.subheader("Start a class")
    st.write(
        "Give the class a name. You get a join code and a link with a QR code to project, and a "
        "teacher key that opens the class's results: it is shown only once, so keep the teacher "
        "link."
    )
    with st.form("class_create", border=True):
        name = st.text_input("Class name", max_chars=classes.caps.CLASS_NAME_CHARACTERS)
        submitted = st.form_submit_button("Create the class", icon=":material/add:")
    if submitted:
        try:
            st.session_state[NEW_CLASS_KEY] = classes.create_class(_db(), name)
        except ValueError as error:
            st.error(str(error), icon=":material/error:")
    new = st.session_state.get(NEW_CLASS_KEY)
    if new is not None:
        _new_class(new)


def _new_class(new: classes.NewClass) -> None:
    link = join_link(new.code)
    _, warning = page_address()
    with st.container(border=True, key="class_created"):
        st.markdown(f"### Join code: `{new.code}`")
        st.caption(f"Class: {plain(new.name)}")
        code_column, qr_column = st.columns([3, 2], gap="large")
        with code_column:
            st.write("Learners open this link (or the Class page and type the code):")
            st.code(link, language=None, wrap_lines=True)
            if warning:
                st.warning(warning, icon=":material/wifi_off:")
            st.write("**Teacher key** (shown only now; it opens the class's results):")
            with st.container(key="class_teacher_key"):
                st.code(new.teacher_key, language=None)
            st.write("Your teacher link: keep it, it opens the teacher's view directly.")
            st.code(teacher_link(new.code, new.teacher_key), language=None, wrap_lines=True)
            expiry = "kept" if new.expires_at is None else f"{new.expires_at:%d %B %Y}"
            st.caption(f"The class and its data are deleted on {expiry} unless you keep it.")
        with qr_column:
            st.image(qr_png(link), caption="Scan to join", width=260)


def teacher_login() -> tuple[str, str] | None:
    """The checked (code, key) from this session or the teacher link; ``None`` otherwise."""
    chosen = st.session_state.get(TEACHER_KEY)
    query_code, query_key = st.query_params.get("code"), st.query_params.get("teacher")
    if chosen is None and query_code and query_key:
        chosen = _check_teacher(query_code, query_key)
    return chosen


def teacher_form() -> None:
    """The code and teacher key, for a teacher without their teacher link at hand."""
    st.subheader("Open the teacher's view")
    with st.form("class_teacher_form", border=True):
        code = st.text_input("Class code", key="class_teacher_code")
        key = st.text_input("Teacher key", type="password", key="class_teacher_key_input")
        submitted = st.form_submit_button("Open", icon=":material/key:")
    if submitted and _check_teacher(code, key) is not None:
        st.rerun()


def _check_teacher(code: str, key: str) -> tuple[str, str] | None:
    try:
        summary = classes.check_teacher(_db(), code, key)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None
    st.session_state[TEACHER_KEY] = (summary.code, key)
    return summary.code, key


# --- the teacher's view -------------------------------------------------------------------------


def teacher_view(code: str, key: str) -> None:
    """Who joined, the pooled handwriting, every model on it, and the teacher's actions."""
    try:
        db = _db()
        summary = classes.check_teacher(db, code, key)
        rows = classes.learners(db, code, key)
        digits = classes.class_digits(db, code, key)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    state_text = "closed" if summary.closed else "open"
    st.header(f"Teacher's view: {plain(summary.name)}")
    st.write(
        f"Class {summary.code} is {state_text}: {len(rows)} learners and {len(digits.labels)} "
        "handwriting digits so far. This page shows who has joined, the handwriting they pooled, "
        "and how well each model reads it next to how well it reads MNIST."
    )
    _learners_table(rows)
    _pooled_handwriting(digits)
    if len(digits.labels):
        _models_on_class_digits(db, code, key, digits)
    _teacher_actions(db, summary, key, digits)


def _learners_table(rows: list[classes.LearnerRow]) -> None:
    st.subheader("Who has joined")
    active = sum(row.active for row in rows)
    st.write(
        f"{len(rows)} learners have joined; {active} were active in the last "
        f"{classes.ACTIVE_MINUTES} minutes."
    )
    if not rows:
        st.caption("No one yet: show the join code or the QR code.")
        return
    with st.container(key="class_learners"):
        st.table(
            [
                {
                    "Nickname": plain(row.nickname),
                    "Active": "yes" if row.active else "no",
                    "Joined (UTC)": f"{row.joined_at:%H:%M %d %b}",
                    "Last seen (UTC)": f"{row.last_seen_at:%H:%M %d %b}",
                    "Digits": row.digits,
                    "Models": row.models,
                    "Best model": plain(row.best_model or "none yet"),
                    "Its MNIST accuracy (%)": (
                        "-" if row.best_accuracy is None else f"{100 * row.best_accuracy:.1f}"
                    ),
                }
                for row in rows
            ],
            hide_index=True,
        )


def _pooled_handwriting(digits: classes.ClassDigits) -> None:
    from mnistkit import plots
    from mnistkit.ui.widgets import digit_gallery

    st.subheader("The class's handwriting")
    total = len(digits.labels)
    with st.container(key="class_digit_count"):
        st.write(f"The class has written **{total} digits** in all.")
    if total == 0:
        st.caption("Learners add digits on the Draw page, under Your handwriting.")
        return
    counts = plots.count_figure(digits.labels).update_yaxes(title_text="Class digits (count)")
    st.plotly_chart(
        counts,
        width="stretch",
        key="class_counts",
        config={"displayModeBar": False},
    )
    st.caption("How many of each digit the class wrote (bars: digits 0-9, height: count).")
    newest = slice(-24, None)
    digit_gallery(
        digits.images[newest][::-1],
        [
            f"#{i}: meant {label}"
            for i, label in zip(digits.ids[newest][::-1], digits.labels[newest][::-1], strict=True)
        ],
        56,
    )


def _models_on_class_digits(db: Database, code: str, key: str, digits: classes.ClassDigits) -> None:
    from mnistkit import plots
    from mnistkit.evaluation import evaluate, mistakes
    from mnistkit.ui import state
    from mnistkit.ui.widgets import digit_gallery

    st.subheader("Every model on the class's handwriting")
    st.write(
        "Each ready-made model and each learner's best model reads every class digit. A model "
        "that reads MNIST far better than the class has learned MNIST's writers' habits. Chance "
        "is 10%."
    )
    try:
        models = {f"{name} (ready-made)": t for name, t in state.ready_made().models.items()}
        models |= classes.best_models(db, code, key, reader=state.file_reader())
    except ValueError as error:
        st.error(f"The models could not be loaded: {error}")
        return
    if not models:
        st.caption("No models yet: learners train them on the Train page.")
        return
    cache = st.session_state.setdefault("class_evaluations", {})
    signature = (code, tuple(digits.ids.tolist()))
    results = {}
    for name, trained in models.items():
        cache_key = (signature, name, id(trained.model))
        if cache_key not in cache:
            cache[cache_key] = evaluate(trained.model, digits.images, digits.labels)
        results[name] = (trained, cache[cache_key])
    ranked = sorted(results.items(), key=lambda item: -item[1][1].accuracy)
    with st.container(key="class_leaderboard"):
        st.table(
            [
                {
                    "Rank": rank,
                    "Model": plain(name),
                    "Class digits read correctly": f"{ev.n_correct} of {ev.n_digits}",
                    "Accuracy on class digits (%)": f"{100 * ev.accuracy:.1f}",
                    "Accuracy on MNIST test digits (%)": (
                        "-" if t.test_accuracy is None else f"{100 * t.test_accuracy:.1f}"
                    ),
                }
                for rank, (name, (t, ev)) in enumerate(ranked, start=1)
            ],
            hide_index=True,
        )
    st.caption("The class leaderboard: ranked by accuracy on the class's own digits.")
    names = [name for name, _ in ranked]
    chosen = st.selectbox("Confusion matrix and misreads of", names, key="class_model_choice")
    evaluation = results[chosen][1]
    matrix, misreads = st.columns([3, 2], gap="large")
    matrix.plotly_chart(
        plots.confusion_figure(evaluation.confusion),
        width="stretch",
        key="class_confusion",
        config={"displayModeBar": False},
    )
    matrix.caption("Rows: the digit the learner meant; columns: what the model read.")
    with misreads:
        st.markdown("**The surest misreads**")
        worst = mistakes(evaluation, limit=12)
        if not worst:
            st.caption("It reads every class digit correctly.")
        else:
            digit_gallery(
                digits.images[[m.index for m in worst]],
                [f"meant {m.true}, read {m.predicted} ({100 * m.confidence:.0f}%)" for m in worst],
                56,
            )


def _teacher_actions(db: Database, summary: classes.ClassSummary, key: str, digits) -> None:
    st.subheader("Export, tidy up, close")
    if len(digits.labels) >= 2:
        export = classes.export_arrays(digits)
        st.write(
            f"The export holds {len(export['y_train'])} training and {len(export['y_test'])} test "
            "digits (every fifth digit), in MNIST's layout: mnistkit.data.load_mnist reads both."
        )
        npz, idx = st.columns(2)
        npz.download_button(
            "Download .npz",
            classes.export_npz(digits),
            file_name=f"class-{summary.code}.npz",
            mime="application/octet-stream",
            on_click="ignore",
            icon=":material/download:",
        )
        idx.download_button(
            "Download IDX files (.zip)",
            _idx_zip(digits),
            file_name=f"class-{summary.code}-idx.zip",
            mime="application/zip",
            on_click="ignore",
            icon=":material/download:",
        )
    else:
        st.caption("The export appears once the class has two digits.")
    if len(digits.labels):
        remove, button = st.columns([3, 1], vertical_alignment="bottom")
        chosen = remove.selectbox(
            "Remove a digit (its number is under it in the gallery)",
            digits.ids.tolist()[::-1],
            format_func=lambda i: f"#{i}",
            key="class_remove_choice",
        )
        if button.button("Remove", icon=":material/delete:", key="class_remove_digit"):
            _act(
                lambda: classes.remove_digit(db, summary.code, key, chosen),
                f"Digit #{chosen} was removed.",
            )
    close, keep, delete = st.columns(3)
    if close.button(
        "Open the class again" if summary.closed else "Close the class",
        icon=":material/lock:",
        key="class_close",
    ):
        _act(
            lambda: classes.close_class(db, summary.code, key, closed=not summary.closed),
            "The class is open again."
            if summary.closed
            else "The class is closed: no new joins or work.",
        )
    kept = summary.expires_at is None
    if keep.button(
        "Let it expire" if kept else "Keep the class past its expiry",
        icon=":material/bookmark:",
        key="class_keep",
    ):
        _act(lambda: classes.keep_class(db, summary.code, key, kept=not kept), "Saved.")
    sure = delete.checkbox("Yes, delete everything in it", key="class_delete_sure")
    pressed = delete.button(
        "Delete the class", icon=":material/delete_forever:", disabled=not sure, key="class_delete"
    )
    if pressed and _act(lambda: classes.delete_class(db, summary.code, key), "Class deleted."):
        st.session_state.pop(TEACHER_KEY, None)
        st.query_params.clear()
        st.rerun()


def _act(action, done: str) -> bool:
    try:
        action()
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return False
    st.toast(done)
    return True


def _idx_zip(digits: classes.ClassDigits) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in classes.export_idx(digits).items():
            archive.writestr(name, data)
    return buffer.getvalue()
