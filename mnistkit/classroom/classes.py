"""What a teacher and learners do with a class, as functions over a ``Database``.

A teacher creates a class and gets its join code and a teacher key (shown once, stored only as
a hash). Learners join with the code and a nickname and get a learner token their browser keeps;
their digits, models and Train settings are saved under it. Every teacher action takes the key,
compared in constant time; the server's operator (the command line) acts without one.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import exc, func, select
from sqlalchemy.orm import Session

from mnistkit.classroom import caps
from mnistkit.classroom.database import ClassroomError, Database
from mnistkit.classroom.tables import Classroom, Digit, Learner, LearnerModel

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed easily
CODE_LENGTH = 6  # 31**6, about 890 million codes, with wrong guesses rate-limited
ACTIVE_MINUTES = 10  # a learner seen this recently counts as active
PIXELS = 28 * 28


class AccessError(ClassroomError):
    """A wrong or unknown join code, teacher key or learner token."""


class ClassClosed(ClassroomError):
    """The class is closed or has expired: nothing more can be added to it."""


# --- what the functions hand back --------------------------------------------------------------


@dataclass(frozen=True)
class NewClass:
    code: str
    name: str
    teacher_key: str  # shown once; only its hash is stored
    expires_at: datetime | None


@dataclass(frozen=True)
class ClassSummary:
    code: str
    name: str
    learners: int
    digits: int
    created_at: datetime
    expires_at: datetime | None
    closed: bool


@dataclass(frozen=True)
class Membership:
    """A learner in a class, as their own browser sees it."""

    token: str
    nickname: str
    code: str
    class_name: str
    closed: bool


@dataclass(frozen=True)
class LearnerRow:
    """One learner in the teacher's list."""

    nickname: str
    joined_at: datetime
    last_seen_at: datetime
    active: bool
    digits: int
    models: int
    best_model: str | None
    best_accuracy: float | None


@dataclass(frozen=True)
class ClassDigits:
    """A class's pooled handwriting: ``images`` (n, 28, 28) uint8, ``labels`` (n,), row ids."""

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    nicknames: tuple[str, ...] = ()  # filled for the teacher only

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=10)


# --- classes -----------------------------------------------------------------------------------


def create_class(db: Database, name: str) -> NewClass:
    """A new class named ``name``: a fresh join code and teacher key."""
    name = clean_text(name, caps.CLASS_NAME_CHARACTERS, "A class name")
    now = _now()
    expire(db, now)
    days = caps.setting("MNISTKIT_CLASS_DAYS")
    key = secrets.token_urlsafe(18)
    _check_database_size(db)
    for _ in range(20):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with db.session() as session:
                count = session.scalar(select(func.count(Classroom.id)))
                cap = caps.setting("MNISTKIT_MAX_CLASSES")
                if count >= cap:
                    raise caps.CapReached(
                        f"This server already holds {count} classes, the most it may "
                        f"(MNISTKIT_MAX_CLASSES={cap}); delete a finished class first."
                    )
                session.add(
                    Classroom(
                        code=code,
                        name=name,
                        teacher_key_hash=_hash(key),
                        created_at=now,
                        expires_at=now + timedelta(days=days),
                        closed=False,
                        kept=False,
                    )
                )
        except exc.IntegrityError:
            continue  # that code was taken a moment ago: draw another
        return NewClass(code, name, key, now + timedelta(days=days))
    raise ClassroomError("No free join code was found; try again.")


def list_classes(db: Database) -> list[ClassSummary]:
    """Every class on the server, newest first, with its counts (for the operator)."""
    with db.session() as session:
        learners = (
            select(Learner.class_id, func.count(Learner.id).label("n"))
            .group_by(Learner.class_id)
            .subquery()
        )
        digits = (
            select(Digit.class_id, func.count(Digit.id).label("n"))
            .group_by(Digit.class_id)
            .subquery()
        )
        rows = session.execute(
            select(Classroom, learners.c.n, digits.c.n)
            .outerjoin(learners, learners.c.class_id == Classroom.id)
            .outerjoin(digits, digits.c.class_id == Classroom.id)
            .order_by(Classroom.created_at.desc(), Classroom.id.desc())
        ).all()
        return [
            ClassSummary(c.code, c.name, n_l or 0, n_d or 0, c.created_at, c.expires_at, c.closed)
            for c, n_l, n_d in rows
        ]


def check_teacher(db: Database, code: str, key: str) -> ClassSummary:
    """The class, when ``key`` is its teacher key; else ``AccessError``."""
    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        return _summary(session, classroom)


def close_class(db: Database, code: str, key: str, closed: bool = True) -> None:
    """Close the class (no joins, no new work) or open it again."""
    with db.session() as session:
        _teacher_class(session, code, key).closed = closed


def keep_class(db: Database, code: str, key: str, kept: bool = True) -> datetime | None:
    """Keep the class past its expiry (or let it expire again); returns its new expiry."""
    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        classroom.kept = kept
        days = caps.setting("MNISTKIT_CLASS_DAYS")
        classroom.expires_at = None if kept else _now() + timedelta(days=days)
        return classroom.expires_at


def delete_class(db: Database, code: str, key: str) -> None:
    """Delete the class with every learner, digit and model in it (teacher)."""
    with db.session() as session:
        _delete(session, _teacher_class(session, code, key))


def delete_class_as_operator(db: Database, code: str) -> str:
    """Delete the class by its code alone (the server's command line); returns its name."""
    with db.session() as session:
        classroom = _class_by_code(session, code)
        name = classroom.name
        _delete(session, classroom)
        return name


def expire(db: Database, now: datetime | None = None) -> int:
    """Delete the classes past their expiry that the teacher did not keep; returns how many."""
    now = now or _now()
    with db.session() as session:
        old = session.scalars(
            select(Classroom).where(Classroom.expires_at.is_not(None), Classroom.expires_at < now)
        ).all()
        for classroom in old:
            _delete(session, classroom)
        return len(old)


# --- learners ----------------------------------------------------------------------------------


def join_class(db: Database, code: str, nickname: str, client: str = "") -> Membership:
    """Join the class with ``code`` as ``nickname``; returns the token the browser keeps.

    ``client`` names the browser for the rate limit on wrong codes.
    """
    caps.JOIN_ATTEMPTS.check(client)
    nickname = clean_text(nickname, caps.NICKNAME_CHARACTERS, "A nickname")
    _check_database_size(db)
    token = secrets.token_urlsafe(24)
    now = _now()
    try:
        with db.session() as session:
            try:
                classroom = _class_by_code(session, code)
            except AccessError:
                caps.JOIN_ATTEMPTS.failed(client)
                raise
            _check_open(classroom, now)
            count = session.scalar(
                select(func.count(Learner.id)).where(Learner.class_id == classroom.id)
            )
            cap = caps.setting("MNISTKIT_MAX_LEARNERS")
            if count >= cap:
                raise caps.CapReached(
                    f"Class {classroom.code} is full: it has {count} learners, the most a class "
                    f"may have (MNISTKIT_MAX_LEARNERS={cap}); ask your teacher."
                )
            taken = session.scalar(
                select(Learner.id).where(
                    Learner.class_id == classroom.id, Learner.nickname == nickname
                )
            )
            if taken is not None:
                raise ClassroomError(
                    "Someone in this class already uses that nickname; choose another."
                )
            session.add(
                Learner(
                    classroom=classroom,
                    nickname=nickname,
                    token_hash=_hash(token),
                    joined_at=now,
                    last_seen_at=now,
                )
            )
            return Membership(token, nickname, classroom.code, classroom.name, classroom.closed)
    except exc.IntegrityError as error:  # the same nickname joined a moment ago
        raise ClassroomError(
            "Someone in this class already uses that nickname; choose another."
        ) from error


def membership(db: Database, token: str, touch: bool = True) -> Membership:
    """The learner a token belongs to (and mark them active); ``AccessError`` if none."""
    with db.session() as session:
        learner = _learner(session, token)
        if touch and _now() - learner.last_seen_at > timedelta(minutes=1):
            learner.last_seen_at = _now()
        classroom = learner.classroom
        return Membership(token, learner.nickname, classroom.code, classroom.name, classroom.closed)


def add_digit(db: Database, token: str, image: np.ndarray, label: int) -> int:
    """Save one labelled 28x28 digit to the learner's class; returns its id."""
    pixels = _pixels(image)
    label = _label(label)
    _check_database_size(db)
    with db.session() as session:
        learner = _learner(session, token)
        _check_open(learner.classroom, _now())
        count = session.scalar(select(func.count(Digit.id)).where(Digit.learner_id == learner.id))
        cap = caps.setting("MNISTKIT_MAX_CLASS_DIGITS")
        if count >= cap:
            raise caps.CapReached(
                f"You have added {count} digits to this class, the most one learner may "
                f"(MNISTKIT_MAX_CLASS_DIGITS={cap})."
            )
        digit = Digit(
            class_id=learner.class_id,
            learner_id=learner.id,
            label=label,
            pixels=pixels,
            created_at=_now(),
        )
        session.add(digit)
        session.flush()
        learner.last_seen_at = _now()
        return digit.id


def own_digits(db: Database, token: str) -> ClassDigits:
    """The learner's own digits, oldest first."""
    with db.session() as session:
        learner = _learner(session, token)
        rows = session.execute(
            select(Digit.id, Digit.label, Digit.pixels)
            .where(Digit.learner_id == learner.id)
            .order_by(Digit.id)
        ).all()
        return _digits(rows)


def remove_own_digits(db: Database, token: str) -> int:
    """Delete every digit the learner added; returns how many."""
    with db.session() as session:
        learner = _learner(session, token)
        result = session.execute(sa.delete(Digit).where(Digit.learner_id == learner.id))
        return result.rowcount


def pooled_digits(db: Database, token: str) -> ClassDigits:
    """Every digit of the learner's class, anonymous: what a learner may train or test on."""
    with db.session() as session:
        learner = _learner(session, token)
        return _class_digits(session, learner.class_id, with_names=False)


def pooled_signature(db: Database, token: str) -> tuple[int, int]:
    """How many digits the learner's class holds and its newest digit's id: changes with both."""
    with db.session() as session:
        learner = _learner(session, token)
        count, newest = session.execute(
            select(func.count(Digit.id), func.max(Digit.id)).where(
                Digit.class_id == learner.class_id
            )
        ).one()
        return int(count), int(newest or 0)


def save_model(db: Database, token: str, trained: Any) -> None:
    """Save (or replace) a learner's model under its name, as the bytes a download holds."""
    from mnistkit import persistence

    data, file_name = persistence.dumps(trained)
    _check_database_size(db)
    with db.session() as session:
        learner = _learner(session, token)
        existing = session.scalar(
            select(LearnerModel).where(
                LearnerModel.learner_id == learner.id, LearnerModel.name == trained.name
            )
        )
        if existing is None:
            # How many models a visitor keeps is the server's cap, checked by the app first.
            existing = LearnerModel(learner_id=learner.id, name=trained.name)
            session.add(existing)
        existing.family = trained.config.model
        existing.test_accuracy = trained.test_accuracy
        existing.file_name = file_name
        existing.data = data
        existing.created_at = _now()
        learner.last_seen_at = _now()


def own_models(db: Database, token: str, reader: Any = None) -> list[Any]:
    """The learner's models, loaded from their safe bytes, in the order they were saved.

    ``reader`` reads the files a worker must (``persistence.loads``'s, the server's).
    """
    from mnistkit import persistence

    with db.session() as session:
        learner = _learner(session, token)
        rows = session.execute(
            select(LearnerModel.name, LearnerModel.file_name, LearnerModel.data)
            .where(LearnerModel.learner_id == learner.id)
            .order_by(LearnerModel.id)
        ).all()
    return [_loaded(persistence, name, file_name, data, reader) for name, file_name, data in rows]


def remove_model(db: Database, token: str, name: str) -> None:
    with db.session() as session:
        learner = _learner(session, token)
        session.execute(
            sa.delete(LearnerModel).where(
                LearnerModel.learner_id == learner.id, LearnerModel.name == name
            )
        )


def save_settings(db: Database, token: str, settings: dict[str, Any]) -> None:
    """Keep the learner's Train settings (plain JSON values)."""
    text = json.dumps(settings, sort_keys=True)
    if len(text) > 20_000:
        raise ClassroomError("These settings are too large to keep.")
    with db.session() as session:
        _learner(session, token).settings = text


def load_settings(db: Database, token: str) -> dict[str, Any]:
    with db.session() as session:
        text = _learner(session, token).settings
    try:
        settings = json.loads(text) if text else {}
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


# --- the teacher's view ------------------------------------------------------------------------


def learners(db: Database, code: str, key: str) -> list[LearnerRow]:
    """Who has joined, who is active, and each learner's counts and best model."""
    now = _now()
    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        rows = []
        for learner in sorted(classroom.learners, key=lambda learner: learner.joined_at):
            digits = session.scalar(
                select(func.count(Digit.id)).where(Digit.learner_id == learner.id)
            )
            models = session.execute(
                select(LearnerModel.name, LearnerModel.test_accuracy).where(
                    LearnerModel.learner_id == learner.id
                )
            ).all()
            scored = [(acc, name) for name, acc in models if acc is not None]
            best_accuracy, best_name = max(scored) if scored else (None, None)
            rows.append(
                LearnerRow(
                    nickname=learner.nickname,
                    joined_at=learner.joined_at,
                    last_seen_at=learner.last_seen_at,
                    active=now - learner.last_seen_at <= timedelta(minutes=ACTIVE_MINUTES),
                    digits=digits,
                    models=len(models),
                    best_model=best_name,
                    best_accuracy=best_accuracy,
                )
            )
        return rows


def best_models(db: Database, code: str, key: str, reader: Any = None) -> dict[str, Any]:
    """Each learner's best model (by MNIST test accuracy), loaded, keyed by "nickname: model".

    ``reader`` reads the files a worker must (``persistence.loads``'s, the server's).
    """
    from mnistkit import persistence

    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        chosen = []
        for learner in classroom.learners:
            row = session.execute(
                select(LearnerModel.name, LearnerModel.file_name, LearnerModel.data)
                .where(LearnerModel.learner_id == learner.id)
                .order_by(LearnerModel.test_accuracy.is_(None), LearnerModel.test_accuracy.desc())
                .limit(1)
            ).first()
            if row is not None:
                chosen.append((learner.nickname, *row))
    return {
        f"{nickname}: {name}": _loaded(persistence, name, file_name, data, reader)
        for nickname, name, file_name, data in chosen
    }


def class_digits(db: Database, code: str, key: str) -> ClassDigits:
    """The class's pooled digits with who added each (teacher)."""
    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        return _class_digits(session, classroom.id, with_names=True)


def remove_digit(db: Database, code: str, key: str, digit_id: int) -> None:
    """Delete one digit from the class (teacher)."""
    with db.session() as session:
        classroom = _teacher_class(session, code, key)
        result = session.execute(
            sa.delete(Digit).where(Digit.id == int(digit_id), Digit.class_id == classroom.id)
        )
        if result.rowcount == 0:
            raise ClassroomError(f"Digit {digit_id} is not in this class (removed already?).")


# --- export ------------------------------------------------------------------------------------


def export_arrays(digits: ClassDigits) -> dict[str, np.ndarray]:
    """The digits in MNIST's layout: every fifth digit is a test digit, the rest train."""
    if len(digits.labels) < 2:
        raise ClassroomError(
            "A class needs at least two digits to export (one to train on, one to test on)."
        )
    test = np.arange(len(digits.labels)) % 5 == 4
    test[-1] = test[-1] or not test.any()
    return {
        "x_train": digits.images[~test],
        "y_train": digits.labels[~test],
        "x_test": digits.images[test],
        "y_test": digits.labels[test],
    }


def export_npz(digits: ClassDigits) -> bytes:
    """The .npz bytes (x_train, y_train, x_test, y_test) that ``load_mnist`` reads."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **export_arrays(digits))
    return buffer.getvalue()


def export_idx(digits: ClassDigits) -> dict[str, bytes]:
    """MNIST's four IDX files (file name -> bytes), as a folder ``load_mnist`` reads."""
    from mnistkit.data import IDX_FILES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC

    files = {}
    for key, array in export_arrays(digits).items():
        magic = IDX_IMAGES_MAGIC if key.startswith("x") else IDX_LABELS_MAGIC
        header = magic.to_bytes(4, "big") + b"".join(
            int(size).to_bytes(4, "big") for size in array.shape
        )
        files[IDX_FILES[key]] = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    return files


def export_class(db: Database, code: str) -> ClassDigits:
    """Every digit of the class by its code alone (the server's command line)."""
    with db.session() as session:
        classroom = _class_by_code(session, code)
        return _class_digits(session, classroom.id, with_names=False)


# --- helpers -----------------------------------------------------------------------------------


def clean_text(text: Any, limit: int, what: str) -> str:
    """Visitor text made safe to keep and show as plain text: one line, capped, printable."""
    if not isinstance(text, str):
        raise ClassroomError(f"{what} must be text.")
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split())
    if not text:
        raise ClassroomError(f"{what} cannot be empty.")
    if len(text) > limit:
        raise ClassroomError(
            f"{what} may be at most {limit} characters long; this one has {len(text):,}."
        )
    return text


def normalise_code(code: Any) -> str:
    """A join code as typed or spoken: case, spaces and dashes do not matter."""
    if not isinstance(code, str):
        return ""
    return re.sub(r"[^A-Z0-9]", "", code.upper())[:32]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC in both back ends


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _class_by_code(session: Session, code: str) -> Classroom:
    classroom = session.scalar(select(Classroom).where(Classroom.code == normalise_code(code)))
    if classroom is None:
        raise AccessError(
            "There is no class with that join code; check the code with your teacher."
        )
    return classroom


def _teacher_class(session: Session, code: str, key: str) -> Classroom:
    try:
        classroom = _class_by_code(session, code)
    except AccessError:
        raise AccessError("There is no class with that join code.") from None
    given = _hash(key if isinstance(key, str) else "")
    if not hmac.compare_digest(given, classroom.teacher_key_hash):
        raise AccessError(
            f"That is not the teacher key of class {classroom.code}; open the teacher link you "
            "kept when you created it."
        )
    return classroom


def _learner(session: Session, token: str) -> Learner:
    learner = None
    if isinstance(token, str) and token:
        learner = session.scalar(select(Learner).where(Learner.token_hash == _hash(token)))
    if learner is None:
        raise AccessError(
            "This join link is no longer valid (the class may have been deleted); join again "
            "with the class code."
        )
    return learner


def _check_open(classroom: Classroom, now: datetime) -> None:
    if classroom.closed:
        raise ClassClosed(f"Class {classroom.code} is closed: nothing new can be added to it.")
    if classroom.expires_at is not None and classroom.expires_at < now:
        raise ClassClosed(f"Class {classroom.code} has expired: nothing new can be added to it.")


def _check_database_size(db: Database) -> None:
    cap = caps.setting("MNISTKIT_MAX_DATABASE_MB")
    size = db.size_bytes()
    if size >= cap * 1024**2:
        raise caps.CapReached(
            f"The class database holds {size / 1024**2:,.0f} MB, the most this server keeps "
            f"(MNISTKIT_MAX_DATABASE_MB={cap}); the teacher can delete old classes to make room."
        )


def _summary(session: Session, classroom: Classroom) -> ClassSummary:
    n_learners = session.scalar(
        select(func.count(Learner.id)).where(Learner.class_id == classroom.id)
    )
    n_digits = session.scalar(select(func.count(Digit.id)).where(Digit.class_id == classroom.id))
    return ClassSummary(
        classroom.code,
        classroom.name,
        n_learners,
        n_digits,
        classroom.created_at,
        classroom.expires_at,
        classroom.closed,
    )


def _delete(session: Session, classroom: Classroom) -> None:
    # Explicit deletes, children first, so neither back end depends on cascading foreign keys.
    learner_ids = select(Learner.id).where(Learner.class_id == classroom.id)
    session.execute(sa.delete(LearnerModel).where(LearnerModel.learner_id.in_(learner_ids)))
    session.execute(sa.delete(Digit).where(Digit.class_id == classroom.id))
    session.execute(sa.delete(Learner).where(Learner.class_id == classroom.id))
    session.execute(sa.delete(Classroom).where(Classroom.id == classroom.id))
    session.expunge(classroom)


def _class_digits(session: Session, class_id: int, with_names: bool) -> ClassDigits:
    rows = session.execute(
        select(Digit.id, Digit.label, Digit.pixels, Learner.nickname)
        .join(Learner, Learner.id == Digit.learner_id)
        .where(Digit.class_id == class_id)
        .order_by(Digit.id)
    ).all()
    digits = _digits([row[:3] for row in rows])
    if with_names:
        return ClassDigits(digits.images, digits.labels, digits.ids, tuple(r[3] for r in rows))
    return digits


def _digits(rows: Sequence[tuple[int, int, bytes]]) -> ClassDigits:
    images = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.array([row[1] for row in rows], dtype=np.uint8)
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    for array in (images, labels, ids):
        array.setflags(write=False)
    return ClassDigits(images, labels, ids)


def _pixels(image: Any) -> bytes:
    array = np.asarray(image)
    if array.shape != (28, 28) or array.dtype != np.uint8:
        raise ClassroomError(
            f"A class digit must be 28x28 uint8 pixels; got shape {array.shape} of {array.dtype}."
        )
    return array.tobytes()


def _label(label: Any) -> int:
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label <= 9:
        raise ClassroomError(
            f"The digit you meant must be a whole number from 0 to 9; got {label!r}."
        )
    return int(label)


def _loaded(persistence, name: str, file_name: str, data: bytes, reader: Any = None) -> Any:
    import dataclasses

    trained = persistence.loads(data, file_name, reader=reader)
    return dataclasses.replace(trained, name=name)
