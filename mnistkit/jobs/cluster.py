"""The same jobs on a Dask distributed cluster (``MNISTKIT_DASK_SCHEDULER=tcp://host:port``).

Each job is ``client.submit(run_on_dask, spec, job_id)``: the task runs ``work.run_job`` on a
Dask worker, which loads the data its own ``MNISTKIT_DATA`` names (once per worker process) and
refuses a job whose data fingerprint differs. Progress comes back as data through a Dask
``Queue`` per job; Stop sets a Dask ``Variable`` the task reads after every epoch (a running
Dask task cannot be interrupted) and cancels the future. When the scheduler goes away, every
run under way fails with one sentence and new runs are refused with it, instead of hanging.
Needs the extra ``mnistkit[cluster]`` (``distributed``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from mnistkit.jobs import resources, work

Events = Callable[[str, str, Any], None]
POLL_SECONDS = 0.3
NO_WORKERS_SECONDS = 60.0  # a run with no worker left in the cluster this long fails


def scheduler_gone(address: str) -> str:
    return (
        f"The training cluster's scheduler at {address} cannot be reached, so runs cannot "
        "train now; ask whoever runs it to restart `dask scheduler` (or unset "
        "MNISTKIT_DASK_SCHEDULER to train on this machine), then press Train again."
    )


def run_on_dask(spec: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The task a Dask worker runs: one job, its epochs put on the job's progress queue."""
    from distributed import Queue, Variable

    progress = Queue(f"mnistkit-progress-{job_id}")
    stop = Variable(f"mnistkit-stop-{job_id}")
    return work.run_job(spec, report=progress.put, should_stop=lambda: bool(stop.get()))


class DaskExecutor:
    """Runs jobs on the cluster whose scheduler is at ``address``."""

    def __init__(self, address: str, *, connect_seconds: float = 10.0):
        try:
            from distributed import Client
        except ImportError as error:
            raise ValueError(
                "MNISTKIT_DASK_SCHEDULER is set but Dask is not installed; install it with "
                "pip install 'mnistkit[cluster]'."
            ) from error
        self.address = address
        self.on_capacity: Callable[[], None] | None = None
        try:
            self.client = Client(address, timeout=connect_seconds, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ValueError(scheduler_gone(address)) from error
        self._lock = threading.Lock()
        self._running: dict[str, dict[str, Any]] = {}
        self._broken: str | None = None
        self._no_workers_since: float | None = None
        self._closed = False
        self._poller = threading.Thread(target=self._poll, name="mnistkit-dask", daemon=True)
        self._poller.start()

    @property
    def slots(self) -> int:
        """One run per worker thread in the cluster (at least one)."""
        workers = self._workers()
        return max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def describe(self) -> str:
        return f"the Dask cluster at {self.address}"

    def problem(self) -> str | None:
        if self._broken is None and self.client.status not in {"running", "newly-created"}:
            self._broken = scheduler_gone(self.address)
        return self._broken

    def free_slots(self) -> int:
        if self.problem():
            return 0
        with self._lock:
            return max(0, self.slots - len(self._running))

    def memory_limit_mb(self) -> float:
        """``MNISTKIT_MEMORY_MB`` if set, else the largest worker's memory limit: one run must
        fit in one worker."""
        import os

        if os.environ.get("MNISTKIT_MEMORY_MB", "").strip():
            return resources.memory_limit_mb()
        limits = [w.get("memory_limit") or 0 for w in self._workers().values()]
        return max(limits, default=0) / resources.MB or resources.machine_memory_mb()

    def memory_mb(self) -> float:
        return 0.0  # the server's own memory is not the cluster's

    def growth_mb(self, job_id: str) -> float:
        return 0.0

    def start(self, job_id: str, spec: dict, events: Events) -> None:
        from distributed import Queue, Variable

        Variable(f"mnistkit-stop-{job_id}", client=self.client).set(False)
        progress = Queue(f"mnistkit-progress-{job_id}", client=self.client)
        future = self.client.submit(
            run_on_dask, spec, job_id, key=f"mnistkit-{job_id}-{uuid.uuid4().hex[:8]}", pure=False
        )
        with self._lock:
            self._running[job_id] = {"future": future, "progress": progress, "events": events}
        events(job_id, "started", {"worker": f"Dask cluster at {self.address}"})

    def cancel(self, job_id: str) -> None:
        from distributed import Variable

        with self._lock:
            running = self._running.pop(job_id, None)
        if running is None:
            return
        try:
            Variable(f"mnistkit-stop-{job_id}", client=self.client).set(True)
            running["future"].cancel()
        except Exception:  # noqa: BLE001 - a gone scheduler has nothing left to stop
            pass

    def close(self) -> None:
        self._closed = True
        self._poller.join(timeout=5)
        with contextlib.suppress(Exception):  # a client whose scheduler is gone
            self.client.close(timeout=5)

    # --- the poller ----------------------------------------------------------------------

    def _workers(self) -> dict[str, dict]:
        try:
            return self.client.scheduler_info().get("workers", {})
        except Exception:  # noqa: BLE001 - no scheduler: no workers
            return {}

    def _poll(self) -> None:
        while not self._closed:
            time.sleep(POLL_SECONDS)
            with self._lock:
                running = dict(self._running)
            if not running:
                continue
            if self.problem():
                self._fail_all(self._broken)
                continue
            self._check_workers(running)
            for job_id, job in running.items():
                try:
                    self._follow(job_id, job)
                except Exception:  # noqa: BLE001 - the scheduler went away mid-poll
                    if self.problem():
                        break

    def _follow(self, job_id: str, job: dict[str, Any]) -> None:
        events = job["events"]
        for metrics in job["progress"].get(batch=True):
            events(job_id, "epoch", metrics)
        future = job["future"]
        if future.status == "pending":
            return
        with self._lock:
            if self._running.pop(job_id, None) is None:
                return  # cancelled meanwhile
        if future.status == "finished":
            for metrics in job["progress"].get(batch=True):
                events(job_id, "epoch", metrics)
            events(job_id, "done", future.result())
        elif future.status == "error":
            error = future.exception()
            message = str(error) if isinstance(error, ValueError) else _crash(error)
            events(job_id, "failed", message)
        else:  # cancelled or lost by the cluster
            events(
                job_id, "failed", self.problem() or "The cluster lost this run; press Train again."
            )
        self._freed()

    def _check_workers(self, running: dict[str, dict]) -> None:
        """Fail the runs under way when the cluster has had no worker for a while."""
        if self._workers():
            self._no_workers_since = None
            return
        now = time.monotonic()
        self._no_workers_since = self._no_workers_since or now
        if now - self._no_workers_since > NO_WORKERS_SECONDS:
            self._fail_all(
                f"The Dask cluster at {self.address} has had no worker for "
                f"{NO_WORKERS_SECONDS:.0f} s, so this run cannot train; start a `dask worker`, "
                "then press Train again."
            )

    def _fail_all(self, sentence: str) -> None:
        with self._lock:
            running, self._running = self._running, {}
        for job_id, job in running.items():
            job["events"](job_id, "failed", sentence)
        self._freed()

    def _freed(self) -> None:
        if self.on_capacity is not None:
            self.on_capacity()


def _crash(error: BaseException | None) -> str:
    return (
        f"The run failed on the cluster ({type(error).__name__}: {error}); press Train to try "
        "again, and tell your teacher if it happens again."
    )
