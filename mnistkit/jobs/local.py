"""A bounded pool of worker processes on this machine, managed one by one.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker dies, so the pool
starts its own processes (``spawn``, never a fork of a threaded server) and watches each one's
pipe and exit. A worker loads the data set once, then runs one job at a time. Stop kills the
worker running the job (so nothing half-trained survives) and starts a fresh one; a worker that
dies by itself (``kill -9``, out of memory) fails its job with one sentence and is replaced too.
No other job is touched.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from mnistkit.jobs import resources

Events = Callable[[str, str, Any], None]  # (job id, kind, payload)

WORKER_DIED = (
    "The worker process training this run stopped unexpectedly (it may have run out of memory, "
    "or been stopped by the system); nothing else was lost, so press Train to try again."
)


def default_workers() -> int:
    """``MNISTKIT_WORKERS`` if set, else one worker per core this process may use, minus one
    for the server itself (at least one)."""
    text = os.environ.get("MNISTKIT_WORKERS", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"MNISTKIT_WORKERS must be a whole number from 1 up; it is {text!r}.")
        return value
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any
    ready: bool = False  # has loaded its data set
    job: str | None = None
    events: Events | None = None
    start_rss_mb: float = 0.0
    stopping: bool = False  # killed on purpose (Stop); its exit is no failure
    data_problem: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass(eq=False)
class LocalPool:
    """``workers`` processes (default: ``default_workers()``) taking one job each at a time."""

    workers: int | None = None
    _pool: list[_Worker] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.on_capacity: Callable[[], None] | None = None  # set by the queue
        self.slots = self.workers or default_workers()
        self._context = multiprocessing.get_context("spawn")
        self._wake_read, self._wake_write = self._context.Pipe(duplex=False)
        with self._lock:
            for _ in range(self.slots):
                self._pool.append(self._spawn())
        self._watcher = threading.Thread(target=self._watch, name="mnistkit-pool", daemon=True)
        self._watcher.start()
        atexit.register(self.close)  # before multiprocessing's own exit hook ends the workers

    # --- what the queue calls ------------------------------------------------------------

    def describe(self) -> str:
        return f"{self.slots} worker process{'es' if self.slots != 1 else ''} on this machine"

    def problem(self) -> str | None:
        """A sentence when the pool cannot take jobs at all, else None."""
        return None if not self._closed else "The training workers have been shut down."

    def free_slots(self) -> int:
        with self._lock:
            return sum(1 for w in self._pool if w.job is None and w.process.is_alive())

    def start(self, job_id: str, spec: dict, events: Events) -> None:
        """Hand the job to an idle worker (the queue checked that one is free)."""
        with self._lock:
            worker = next(w for w in self._pool if w.job is None and w.process.is_alive())
            worker.job, worker.events = job_id, events
            worker.start_rss_mb = resources.process_rss_mb(worker.pid)
            worker.conn.send(("run", job_id, spec))
        events(job_id, "started", {"worker": f"process {worker.pid}"})

    def cancel(self, job_id: str) -> None:
        """Stop the job at once: its worker is killed and replaced; no result comes back."""
        with self._lock:
            for worker in self._pool:
                if worker.job == job_id:
                    worker.stopping = True
                    worker.events = None
                    _kill(worker.pid)
        self._wake()

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every worker has loaded its data set; False if that took too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(w.ready and w.process.is_alive() for w in self._pool):
                    return True
            time.sleep(0.05)
        return False

    def worker_pid(self, job_id: str) -> int | None:
        with self._lock:
            return next((w.pid for w in self._pool if w.job == job_id), None)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._pool]

    def memory_mb(self) -> float:
        """What the workers hold now, resident set, in MB."""
        return sum(resources.process_rss_mb(pid) for pid in self.pids())

    def growth_mb(self, job_id: str) -> float:
        """How much the worker running ``job_id`` has grown since the job began, in MB."""
        with self._lock:
            worker = next((w for w in self._pool if w.job == job_id), None)
            if worker is None:
                return 0.0
            return max(0.0, resources.process_rss_mb(worker.pid) - worker.start_rss_mb)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._pool)
            for worker in workers:
                worker.stopping = True
                _kill(worker.pid)
        self._wake()
        self._watcher.join(timeout=10)
        for worker in workers:
            worker.process.join(timeout=5)

    # --- the watcher thread --------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child,), name="mnistkit-worker", daemon=True
        )
        _start_without_main(process)
        child.close()
        return _Worker(process, parent)

    def _wake(self) -> None:
        self._wake_write.send(None)

    def _watch(self) -> None:
        """Read each worker's messages and notice each worker's exit; replace the dead."""
        while True:
            with self._lock:
                if self._closed and not self._pool:
                    return
                conns = {w.conn: w for w in self._pool}
                sentinels = {w.process.sentinel: w for w in self._pool}
            for ready in wait([self._wake_read, *conns, *sentinels], timeout=1.0):
                if ready is self._wake_read:
                    self._wake_read.recv()
                elif ready in conns:
                    self._receive(conns[ready])
                else:
                    self._reap(sentinels[ready])

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return  # the process is gone; its sentinel says so next
        kind = message[0]
        if kind == "ready":
            worker.ready, worker.data_problem = True, message[1]
            return
        job_id, payload = message[1], message[2]
        with self._lock:
            events = worker.events if worker.job == job_id else None
            if kind in {"done", "failed"}:
                worker.job, worker.events = None, None
        if events is not None:
            events(job_id, kind, payload)

    def _reap(self, worker: _Worker) -> None:
        worker.process.join(timeout=1)
        with self._lock:
            job, events, on_purpose = worker.job, worker.events, worker.stopping
            worker.conn.close()
            index = self._pool.index(worker)
            if self._closed:
                del self._pool[index]
                return
            self._pool[index] = self._spawn()
        if self.on_capacity is not None:
            self.on_capacity()  # a worker is free again: the queue may start the next run
        if job is not None and events is not None and not on_purpose:
            events(job, "failed", WORKER_DIED)  # an idle worker's death needs no sentence


def _start_without_main(process) -> None:
    """Start a spawned ``mnistkit-`` process that does not import this program's ``__main__``.

    ``spawn`` re-imports the parent's main module in the child; under Streamlit (and AppTest)
    that module is the app script, so each worker would run the whole app. Swapping
    ``sys.modules["__main__"]`` for the instant of ``start`` is not enough: Streamlit sets it
    again at the start of every visitor's script run, in other threads. So what the child is
    told to prepare leaves the main module out for mnistkit's own processes (by their name).
    """
    _install_preparation_without_main()
    process.start()


def _install_preparation_without_main() -> None:
    from multiprocessing import spawn

    if getattr(spawn.get_preparation_data, "mnistkit", False):
        return
    original = spawn.get_preparation_data

    def get_preparation_data(name):
        data = original(name)
        if str(name).startswith("mnistkit-"):  # a worker or the reader: mnistkit only
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    get_preparation_data.mnistkit = True
    spawn.get_preparation_data = get_preparation_data


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _worker_main(conn) -> None:
    """One worker: load the data set once, then run each job it is sent, reporting as data."""
    from mnistkit.jobs import work
    from mnistkit.memory import limit_allocator_arenas, release_memory

    limit_allocator_arenas()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C on the server stops the server only
    problem = None
    try:
        import mnistkit.persistence  # noqa: F401 - the libraries every run needs (not Keras)
        import mnistkit.training  # noqa: F401

        work.worker_dataset()
    except ValueError as error:
        problem = str(error)
    conn.send(("ready", problem))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the server has gone
        _, job_id, spec = message

        def report(metrics: dict, job_id=job_id) -> None:
            conn.send(("epoch", job_id, metrics))

        try:
            conn.send(("done", job_id, work.run_job(spec, report=report)))
        except ValueError as error:
            conn.send(("failed", job_id, str(error)))
        except Exception as error:  # noqa: BLE001 - a bug in one run must not end the worker
            conn.send(("failed", job_id, crash_sentence(error)))
        finally:
            release_memory()


def crash_sentence(error: BaseException) -> str:
    """The sentence for a run that failed with an unexpected error inside its worker."""
    return (
        f"The run failed inside its worker ({type(error).__name__}: {error}); "
        "press Train to try again, and tell your teacher if it happens again."
    )
