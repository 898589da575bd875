"""The server's training queue: first come, first served, one run per visitor, bounded.

Visitors hold *tickets*. ``submit`` gives one: for a run already finished on this server (the
run store), it is done at once; for a run someone else is training right now, it follows that
job; otherwise a new job waits in line. A job starts when the executor (``LocalPool`` or
``DaskExecutor``) has a free slot and the memory it is expected to need fits under the budget
(``resources``); the head of the line waits rather than being overtaken, so order is kept.
Everything a visitor sees is a ``Status``: their place and an estimated wait, then each epoch's
metrics, then the finished model file or one sentence saying why there is none.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mnistkit.jobs import resources, work
from mnistkit.jobs.store import RunStore

MAX_WAITING = 20  # runs that may wait at once; MNISTKIT_MAX_WAITING
START_SECONDS = 3.0  # a worker's time to begin a run (Keras's first import is slower)

WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"
ACTIVE = {WAITING, RUNNING}


class QueueError(ValueError):
    """A run the queue cannot take, explained in a sentence."""


class QueueFull(QueueError):
    """As many runs are waiting as the server holds."""


class AlreadyQueued(QueueError):
    """The visitor already has a run waiting or training."""


def max_waiting() -> int:
    text = os.environ.get("MNISTKIT_MAX_WAITING", "").strip()
    if not text:
        return MAX_WAITING
    if not text.isdigit() or int(text) < 1:
        raise QueueError(f"MNISTKIT_MAX_WAITING must be a whole number from 1 up; it is {text!r}.")
    return int(text)


@dataclass(eq=False)
class Job:
    id: str
    key: str
    spec: dict[str, Any]
    estimate_mb: float
    expected_seconds: float
    state: str = WAITING
    tickets: set[str] = field(default_factory=set)
    history: list[dict] = field(default_factory=list)
    result: dict[str, Any] | None = None
    message: str | None = None
    worker: str | None = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None

    @property
    def epochs(self) -> int:
        return int(self.spec["config"]["epochs"])


@dataclass(frozen=True)
class Ticket:
    owner: str
    job: str
    reused: bool  # the result is (or will be) an identical run's, not trained for this asker
    cancelled: bool = False


@dataclass(frozen=True)
class Status:
    """What one visitor sees of their run."""

    state: str  # waiting, running, done, failed or cancelled
    place: int | None  # 1 for the next run to start, while waiting
    waiting: int  # runs waiting in all
    wait_seconds: float | None  # estimated, while waiting
    epochs: int
    history: tuple[dict, ...]  # one dict per finished epoch
    result: dict[str, Any] | None  # the saved model file and its history, once done
    message: str | None  # why it failed, once failed
    reused: bool
    worker: str | None  # where it runs, e.g. "process 1234"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobQueue:
    """FIFO training jobs on ``executor``, with a run store and memory-aware admission."""

    def __init__(
        self,
        executor,
        *,
        store: RunStore | None = None,
        max_waiting_runs: int | None = None,
        memory_limit_mb: float | None = None,
    ):
        self.executor = executor
        self.store = RunStore() if store is None else store
        self.max_waiting = max_waiting() if max_waiting_runs is None else max_waiting_runs
        if memory_limit_mb is None:
            memory_limit_mb = getattr(executor, "memory_limit_mb", resources.memory_limit_mb)()
        self.memory_limit_mb = memory_limit_mb
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._tickets: dict[str, Ticket] = {}
        self._ids = itertools.count(1)
        self._rates: dict[str, float] = {}  # seconds per image per epoch, as timed here
        executor.on_capacity = self._capacity_freed

    # --- what a visitor does -------------------------------------------------------------

    def submit(self, owner: str, spec: dict[str, Any]) -> str:
        """Queue the run ``spec`` describes for ``owner``; returns their ticket.

        Raises ``AlreadyQueued``, ``QueueFull``, ``resources.MemoryLimitError`` or a
        ``QueueError`` when the executor cannot take work, each with its sentence.
        """
        with self._lock:
            problem = self.executor.problem()
            if problem:
                raise QueueError(problem)
            if self.active_ticket(owner) is not None:
                raise AlreadyQueued(
                    "You already have a run waiting or training; wait for it to finish, or "
                    "press Stop, before you start another."
                )
            key = work.job_key(spec)
            stored = self.store.get(key)
            if stored is not None:
                job = self._new_job(key, spec)
                job.state, job.result = DONE, stored
                job.history = list(stored["history"])
                return self._ticket(owner, job, reused=True)
            active = (j for j in self._jobs.values() if j.key == key and j.state in ACTIVE)
            twin = next(active, None)
            if twin is not None:
                return self._ticket(owner, twin, reused=True)
            job = self._new_job(key, spec)
            self._check_fits_ever(job)
            if len(self._waiting) >= self.max_waiting:
                del self._jobs[job.id]
                raise QueueFull(
                    f"The training queue is full: {len(self._waiting)} runs are waiting, the "
                    f"most this server holds (MNISTKIT_MAX_WAITING is {self.max_waiting}); try "
                    "again in a minute, or use a ready-made model meanwhile."
                )
            ticket = self._ticket(owner, job, reused=False)
            self._waiting.append(job.id)
            self._dispatch()
            return ticket

    def status(self, ticket: str) -> Status:
        with self._lock:
            held = self._tickets.get(ticket)
            if held is None:
                raise QueueError("This run is no longer known to the server; press Train again.")
            job = self._jobs[held.job]
            state = CANCELLED if held.cancelled else job.state
            place = wait = None
            if state == WAITING:
                place = self._waiting.index(job.id) + 1
                wait = self._wait_seconds(place)
            return Status(
                state=state,
                place=place,
                waiting=len(self._waiting),
                wait_seconds=wait,
                epochs=job.epochs,
                history=tuple(job.history),
                result=job.result if state == DONE else None,
                message=job.message if state == FAILED else None,
                reused=held.reused,
                worker=job.worker,
            )

    def cancel(self, ticket: str) -> None:
        """Stop this visitor's run; the job itself stops once nobody else waits for it."""
        with self._lock:
            held = self._tickets.get(ticket)
            if held is None or held.cancelled:
                return
            self._tickets[ticket] = Ticket(held.owner, held.job, held.reused, cancelled=True)
            job = self._jobs[held.job]
            job.tickets.discard(ticket)
            if job.tickets or job.state not in ACTIVE:
                return
            if job.state == WAITING:
                self._waiting.remove(job.id)
            else:
                self.executor.cancel(job.id)
            job.state = CANCELLED
            self._dispatch()

    def forget(self, ticket: str) -> None:
        """Drop a finished ticket (its owner has taken the result)."""
        with self._lock:
            held = self._tickets.pop(ticket, None)
            if held is None:
                return
            job = self._jobs.get(held.job)
            if job is None:
                return
            job.tickets.discard(ticket)
            if job.state not in ACTIVE and not any(t.job == job.id for t in self._tickets.values()):
                del self._jobs[job.id]

    def active_ticket(self, owner: str) -> str | None:
        """The owner's ticket whose run is waiting or training, if any."""
        with self._lock:
            for ticket, held in self._tickets.items():
                mine = held.owner == owner and not held.cancelled
                if mine and self._jobs[held.job].state in ACTIVE:
                    return ticket
            return None

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [job.state for job in self._jobs.values()]
            return {state: states.count(state) for state in (WAITING, RUNNING)}

    def close(self) -> None:
        self.executor.close()

    # --- inside --------------------------------------------------------------------------

    def _new_job(self, key: str, spec: dict[str, Any]) -> Job:
        config = spec["config"]
        images = self._train_images(spec)
        job = Job(
            id=f"job-{next(self._ids)}",
            key=key,
            spec=spec,
            estimate_mb=resources.estimate_mb(config["model"], images),
            expected_seconds=START_SECONDS
            + self._rate(config["model"]) * images * int(config["epochs"]),
        )
        self._jobs[job.id] = job
        return job

    def _rate(self, model: str) -> float:
        """Seconds per image per epoch: as timed on this server, else the family's own figure."""
        from mnistkit.models import REGISTRY

        return self._rates.get(model, REGISTRY[model].seconds_per_image)

    @staticmethod
    def _train_images(spec: dict[str, Any]) -> int:
        return int(spec["config"]["train_size"] or spec.get("available_images", 60_000))

    def _ticket(self, owner: str, job: Job, *, reused: bool) -> str:
        ticket = f"ticket-{next(self._ids)}"
        self._tickets[ticket] = Ticket(owner, job.id, reused)
        job.tickets.add(ticket)
        return ticket

    def _held_mb(self) -> float:
        """Memory in use now by the server and the workers, in MB."""
        return resources.process_rss_mb() + self.executor.memory_mb()

    def _check_fits_ever(self, job: Job) -> None:
        needed = self._held_mb() + job.estimate_mb
        if needed > self.memory_limit_mb:
            del self._jobs[job.id]
            raise resources.MemoryLimitError(
                f"This run would need about {needed:,.0f} MB with the server and its workers, "
                f"more than the {self.memory_limit_mb:,.0f} MB this server has "
                "(MNISTKIT_MEMORY_MB); use a ready-made model, a smaller family such as the "
                "linear net or scikit-learn's MLP, fewer training images, or the bundled sample."
            )

    def _fits_now(self, job: Job) -> bool:
        running = [j for j in self._jobs.values() if j.state == RUNNING]
        if not running:
            return True  # it fits on its own (checked at submit), so it never waits forever
        still_to_come = sum(
            max(0.0, j.estimate_mb - self.executor.growth_mb(j.id)) for j in running
        )
        return self._held_mb() + still_to_come + job.estimate_mb <= self.memory_limit_mb

    def _dispatch(self) -> None:
        problem = self.executor.problem()
        if problem:  # e.g. the cluster's scheduler has gone: no waiting run could ever start
            while self._waiting:
                job = self._jobs[self._waiting.popleft()]
                job.state, job.message = FAILED, problem
            return
        while self._waiting and self.executor.free_slots() > 0:
            job = self._jobs[self._waiting[0]]
            if not self._fits_now(job):
                return
            self._waiting.popleft()
            job.state, job.started = RUNNING, time.monotonic()
            try:
                self.executor.start(job.id, job.spec, self._on_event)
            except Exception as error:  # noqa: BLE001 - the executor's sentence, not a crash
                job.state = FAILED
                job.message = getattr(self.executor, "sentence", lambda e: str(e))(error)

    def _capacity_freed(self) -> None:
        with self._lock:
            self._dispatch()

    def _on_event(self, job_id: str, kind: str, payload: Any) -> None:
        """What an executor reports: started, epoch, done or failed (from its own thread)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state != RUNNING:
                return  # a cancelled job's late news
            if kind == "started":
                job.worker = payload.get("worker")
            elif kind == "epoch":
                job.history.append(payload)
            elif kind == "done":
                job.state, job.result = DONE, payload
                job.history = list(payload["history"])
                self.store.put(job.key, payload)
                self._learn_rate(job, payload)
            elif kind == "failed":
                job.state, job.message = FAILED, str(payload)
            if kind in {"done", "failed"}:
                self._dispatch()

    def _learn_rate(self, job: Job, result: dict[str, Any]) -> None:
        config = job.spec["config"]
        work_done = self._train_images(job.spec) * max(1, len(result["history"]))
        if work_done and result.get("seconds"):
            model = config["model"]
            measured = result["seconds"] / work_done
            self._rates[model] = 0.5 * self._rates.get(model, measured) + 0.5 * measured

    def _remaining_seconds(self, job: Job) -> float:
        if job.state == WAITING:
            return job.expected_seconds
        if job.history:
            per_epoch = job.history[-1]["seconds"] / len(job.history)
            return per_epoch * (job.epochs - len(job.history))
        return max(1.0, job.expected_seconds - (time.monotonic() - (job.started or 0.0)))

    def _wait_seconds(self, place: int) -> float:
        running = [j for j in self._jobs.values() if j.state == RUNNING]
        ahead = [self._jobs[i] for i in list(self._waiting)[: place - 1]]
        slots = max(1, getattr(self.executor, "slots", 1))
        total = sum(self._remaining_seconds(j) for j in running + ahead)
        return total / slots if len(running) >= slots or ahead else 0.0
