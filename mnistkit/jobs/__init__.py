"""Training as jobs: a run's settings in, a saved model file out, on whichever executor.

``JobQueue`` keeps the order, the one-run-per-visitor rule, the cap, the finished-run store and
memory-aware admission; an executor runs the jobs: ``LocalPool`` (worker processes on this
machine) or ``DaskExecutor`` (a Dask distributed cluster, with ``MNISTKIT_DASK_SCHEDULER``).
Nothing here imports streamlit.
"""

from __future__ import annotations

import os

from mnistkit.jobs.queue import AlreadyQueued, JobQueue, QueueError, QueueFull, Status
from mnistkit.jobs.resources import MemoryLimitError
from mnistkit.jobs.work import DataMismatch, fingerprint, job_spec

__all__ = [
    "AlreadyQueued",
    "DataMismatch",
    "JobQueue",
    "MemoryLimitError",
    "QueueError",
    "QueueFull",
    "Status",
    "fingerprint",
    "from_environment",
    "job_spec",
]


def from_environment() -> JobQueue:
    """The queue this server uses: on ``MNISTKIT_DASK_SCHEDULER``'s cluster if set, else local."""
    address = os.environ.get("MNISTKIT_DASK_SCHEDULER", "").strip()
    if address:
        from mnistkit.jobs.cluster import DaskExecutor

        return JobQueue(DaskExecutor(address))
    from mnistkit.jobs.local import LocalPool

    return JobQueue(LocalPool())
