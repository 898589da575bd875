"""Where class mode keeps its data: one SQLAlchemy engine per database URL, a versioned schema.

The database URL is the only switch between the two back ends:

- by default a SQLite file, ``classes.sqlite3`` in ``MNISTKIT_STATE_DIR`` (default
  ``~/.mnistkit``), in WAL mode so that readers never wait for the server's writing threads, and
  every write transaction started with ``BEGIN IMMEDIATE`` so that two writers queue instead of
  failing;
- PostgreSQL when ``MNISTKIT_DATABASE_URL`` names one, e.g.
  ``postgresql+psycopg://user:password@host/dbname`` (``pip install "mnistkit[postgres]"``).

The schema carries its version in the table ``schema_version``. ``open_database`` applies, in
order and inside one transaction, every upgrade step the file has not had yet, so a database made
by an older mnistkit is upgraded in place and keeps its data.

Any failure of the database itself (a folder that cannot be written, a full disk, a server that
cannot be reached) raises ``StorageError``: one sentence saying what happened and what to do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

STATE_DIR_VARIABLE = "MNISTKIT_STATE_DIR"
DATABASE_URL_VARIABLE = "MNISTKIT_DATABASE_URL"
DEFAULT_STATE_DIR = Path("~/.mnistkit")
SQLITE_FILE = "classes.sqlite3"
SQLITE_BUSY_SECONDS = 20  # how long a writer waits for another before giving up
SCHEMA_VERSION = 2


class ClassroomError(ValueError):
    """Something class mode cannot do, explained in one sentence."""


class StorageError(ClassroomError):
    """The class database cannot be opened, read or written; nothing was changed."""


def state_dir() -> Path:
    """The folder for mnistkit's own files: ``MNISTKIT_STATE_DIR``, else ``~/.mnistkit``."""
    chosen = os.environ.get(STATE_DIR_VARIABLE, "").strip()
    return Path(chosen).expanduser() if chosen else DEFAULT_STATE_DIR.expanduser()


def database_url() -> str:
    """``MNISTKIT_DATABASE_URL`` if set, else the SQLite file in the state folder."""
    chosen = os.environ.get(DATABASE_URL_VARIABLE, "").strip()
    if chosen:
        return chosen
    return f"sqlite:///{state_dir() / SQLITE_FILE}"


@dataclass(frozen=True)
class Database:
    """An opened class database: its engine and a sentence-friendly name for it."""

    engine: Engine
    where: str  # the file, or the server and database, for messages (never a password)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: a session in a transaction, committed at the end, else rolled back.

        A failure of the database itself becomes ``StorageError``; other errors pass unchanged.
        """
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except exc.IntegrityError:
            raise
        except (exc.DBAPIError, exc.TimeoutError) as error:
            raise StorageError(storage_sentence(error, self.where)) from error
        except OSError as error:
            raise StorageError(storage_sentence(error, self.where)) from error

    def size_bytes(self) -> int:
        """The database's size on disk, in bytes."""
        with self.session() as session:
            if self.is_sqlite:
                pages = session.execute(sa.text("PRAGMA page_count")).scalar_one()
                page_size = session.execute(sa.text("PRAGMA page_size")).scalar_one()
                return int(pages) * int(page_size)
            query = sa.text("SELECT pg_database_size(current_database())")
            return int(session.execute(query).scalar_one())

    def schema_version(self) -> int:
        with self.session() as session:
            return _version(session.connection())


_OPENED: dict[str, Database] = {}
_OPENING = threading.Lock()


def open_database(url: str | None = None) -> Database:
    """The database at ``url`` (default ``database_url()``), created or upgraded on first use.

    One engine per URL is shared by the whole process (it is a pool of connections, not anyone's
    data); a database that failed to open is tried again on the next call.
    """
    url = url or database_url()
    with _OPENING:
        if url in _OPENED:
            return _OPENED[url]
        database = connect(url)
        try:
            upgrade(database)
        except BaseException:
            database.engine.dispose()
            raise
        _OPENED[url] = database
        return database


def forget_databases() -> None:
    """Close every engine ``open_database`` made (tests, and a server that changes URL)."""
    with _OPENING:
        for database in _OPENED.values():
            database.engine.dispose()
        _OPENED.clear()


def connect(url: str) -> Database:
    """An engine for ``url`` with class mode's settings, without touching the schema."""
    try:
        parsed = sa.make_url(url)
    except exc.ArgumentError as error:
        raise StorageError(
            f"{DATABASE_URL_VARIABLE} is not a database URL ({url!r}); use e.g. "
            "postgresql+psycopg://user:password@host/dbname or sqlite:///path/to/file."
        ) from error
    if parsed.get_backend_name() == "sqlite":
        return _connect_sqlite(parsed)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        try:
            engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except ImportError as error:
            raise StorageError(
                'PostgreSQL needs the psycopg driver: pip install "mnistkit[postgres]".'
            ) from error
        where = f"{parsed.database} on {parsed.host or 'localhost'}:{parsed.port or 5432}"
        return Database(engine, where)
    raise StorageError(
        f"{DATABASE_URL_VARIABLE} names a {parsed.get_backend_name()} database; class mode "
        "works with SQLite and PostgreSQL."
    )


def _connect_sqlite(parsed: sa.URL) -> Database:
    path = parsed.database
    if not path or path == ":memory:":
        raise StorageError("Class mode needs a SQLite file, not an in-memory database.")
    file = Path(path).expanduser()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(storage_sentence(error, str(file))) from error
    engine = sa.create_engine(
        parsed.set(database=str(file)),
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not sqlite3, begins transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock at the start: a transaction that read first and then tried to
        # write could otherwise fail at once instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return Database(engine, str(file))


# --- the schema, version by version ------------------------------------------------------------


def _version_1(connection: Connection) -> None:
    """The first schema: classes, learners, their digits and models (frozen as it shipped)."""

    def owned_by(name: str, parent: str) -> sa.Column:
        """The column ``name``: the row belongs to a row of ``parent`` and goes when it goes."""
        foreign_key = sa.ForeignKey(f"{parent}.id", ondelete="CASCADE")
        return sa.Column(name, sa.Integer, foreign_key, nullable=False, index=True)

    metadata = sa.MetaData()
    sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, primary_key=True))
    sa.Table(
        "classes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("teacher_key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("closed", sa.Boolean, nullable=False),
    )
    sa.Table(
        "learners",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        owned_by("class_id", "classes"),
        sa.Column("nickname", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("class_id", "nickname"),
    )
    sa.Table(
        "digits",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        owned_by("class_id", "classes"),
        owned_by("learner_id", "learners"),
        sa.Column("label", sa.Integer, nullable=False),
        sa.Column("pixels", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "models",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        owned_by("learner_id", "learners"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("family", sa.String(40), nullable=False),
        sa.Column("test_accuracy", sa.Float, nullable=True),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("learner_id", "name"),
    )
    metadata.create_all(connection)


def _version_2(connection: Connection) -> None:
    """A class the teacher keeps past its expiry; a learner's Train settings."""
    connection.execute(
        sa.text("ALTER TABLE classes ADD COLUMN kept BOOLEAN NOT NULL DEFAULT FALSE")
    )
    connection.execute(sa.text("ALTER TABLE learners ADD COLUMN settings TEXT"))


# Each step takes the schema from the version before it to its own; never edit a shipped step,
# add the next one and raise SCHEMA_VERSION.
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _version_1, 2: _version_2}
assert sorted(UPGRADES) == list(range(1, SCHEMA_VERSION + 1))


def upgrade(database: Database, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target`` in one transaction; returns the version before."""
    with database.session() as session:
        connection = session.connection()
        if not database.is_sqlite:  # one upgrader at a time across processes
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(15150015)"))
        found = _version(connection)
        if found > SCHEMA_VERSION:
            raise StorageError(
                f"The class database {database.where} was made by a newer mnistkit (schema "
                f"version {found}, this one knows {SCHEMA_VERSION}); update mnistkit to use it."
            )
        for version in range(found + 1, target + 1):
            UPGRADES[version](connection)
            connection.execute(sa.text("DELETE FROM schema_version"))
            connection.execute(
                sa.text("INSERT INTO schema_version (version) VALUES (:version)"),
                {"version": version},
            )
        return found


def _version(connection: Connection) -> int:
    """The schema version the database holds; 0 when it is empty."""
    if not sa.inspect(connection).has_table("schema_version"):
        return 0
    found = connection.execute(sa.text("SELECT max(version) FROM schema_version")).scalar()
    return int(found or 0)


# --- messages ----------------------------------------------------------------------------------


def storage_sentence(error: BaseException, where: str) -> str:
    """What went wrong with the database at ``where``, and what to do, in one sentence."""
    text = " ".join(str(getattr(error, "orig", None) or error).split()).lower()
    if isinstance(error, OSError) and not isinstance(error, exc.DBAPIError):
        reason = (error.strerror or str(error)).lower()
        return (
            f"The class database folder for {where} cannot be made ({reason}), so nothing was "
            f"saved; set {STATE_DIR_VARIABLE} to a folder this server may write to."
        )
    if "readonly" in text or "read-only" in text or "read only" in text:
        return (
            f"The class database {where} is read-only, so nothing was saved; make it writable "
            f"or set {STATE_DIR_VARIABLE} to a folder this server may write to."
        )
    if "disk is full" in text or "no space left" in text or "could not extend" in text:
        return (
            f"The disk holding the class database {where} is full, so nothing was saved; free "
            "some space and try again."
        )
    if "disk i/o error" in text:
        return (
            f"The class database {where} could not be written (a disk error: the disk may be "
            "full or failing), so nothing was saved; free some space and try again."
        )
    if "unable to open" in text:
        return (
            f"The class database {where} cannot be opened, so nothing was saved; check that "
            f"its folder exists and may be written, or set {STATE_DIR_VARIABLE} to one that does."
        )
    if "locked" in text or "busy" in text or isinstance(error, exc.TimeoutError):
        return (
            f"The class database {where} stayed busy too long, so nothing was saved; try again "
            "in a moment."
        )
    if "connection" in text or "connect" in text or "password" in text:
        return (
            f"The class database {where} cannot be reached, so nothing was saved; check "
            f"{DATABASE_URL_VARIABLE} and that the database server is running."
        )
    first = text.splitlines()[0][:160] if text else type(error).__name__
    return f"The class database {where} failed ({first}), so nothing was saved; try again."
