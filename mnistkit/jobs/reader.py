"""One worker process that reads Keras and scikit-learn files for the server, which loads neither.

``persistence.load(..., reader=FileReader())`` hands the bytes of a file whose family
``needs_worker`` to ``FileReader``: a single ``spawn``-ed process (started on first use, then
kept), which reads the file with ``persistence.loads`` and every check it makes (no code in the
config, Keras's ``safe_mode=True``, ten outputs, the family's input shape) and sends back
``models.reading(model)``: the network as arrays, its description and parameter count. It is not
the training pool, so an upload never waits behind a class's trainings. A refusal comes back as
the same ``ModelFileError`` sentence; a reader that dies is replaced at the next file.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from typing import Any

from mnistkit.models.base import ModelFileError

READ_SECONDS = 180.0  # the first file waits for Keras and JAX to import (seconds on a busy core)


@dataclass(eq=False)
class FileReader:
    """Reads model files in its own worker process; call it with ``(data, name)``."""

    _process: Any = field(default=None, init=False)
    _conn: Any = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self, data: bytes, name: str) -> dict:
        with self._lock:  # one file at a time: reading takes a fraction of a second once warm
            conn = self._connection()
            try:
                conn.send((data, name))
                if not conn.poll(READ_SECONDS):
                    self._stop()
                    raise ModelFileError(
                        f"Reading {name} took longer than {READ_SECONDS:.0f} s, so it was "
                        "stopped; try again in a minute."
                    )
                kind, answer = conn.recv()
            except (EOFError, OSError) as error:
                self._stop()
                raise ModelFileError(
                    f"The process reading {name} stopped unexpectedly; try again."
                ) from error
        if kind == "refused":
            raise ModelFileError(answer)
        return answer

    def pid(self) -> int | None:
        """The reader process's id, once it has started."""
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _connection(self):
        if self._process is None or not self._process.is_alive():
            import multiprocessing

            from mnistkit.jobs.local import _start_without_main

            context = multiprocessing.get_context("spawn")
            self._conn, child = context.Pipe()
            self._process = context.Process(
                target=_reader_main, args=(child,), name="mnistkit-reader", daemon=True
            )
            _start_without_main(self._process)
            child.close()
        return self._conn

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
            self._conn.close()
        self._process = self._conn = None


def read_file(data: bytes, name: str) -> dict:
    """In the reading process: the file read with every check, as ``models.reading`` gives it."""
    from mnistkit import persistence
    from mnistkit.models import reading

    return reading(persistence.loads(data, name).model)


def _reader_main(conn) -> None:
    from mnistkit.memory import release_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C on the server stops the server only
    while True:
        try:
            data, name = conn.recv()
        except (EOFError, OSError):
            return  # the server has gone
        try:
            conn.send(("read", read_file(data, name)))
        except ValueError as error:  # ModelFileError, NetworkError: one sentence each
            conn.send(("refused", str(error)))
        except Exception as error:  # noqa: BLE001 - a bad file must not end the reader
            conn.send(("refused", f"{name} could not be read ({type(error).__name__}: {error})."))
        finally:
            release_memory()
