"""Memory: how much this machine gives training, and how much a run is expected to take.

The budget is ``MNISTKIT_MEMORY_MB`` if set, else the container's cgroup memory limit where there
is one, else the machine's memory. The estimates below are the *extra* resident memory a worker
process needs while it trains a run, above what an idle worker already holds (Python, NumPy,
scikit-learn and the data set): measured with ``python bench/job_memory.py``, which trains each
family in a fresh worker and reads its peak resident set (``ru_maxrss``), then fitted as a fixed
part plus a part per training image, rounded up, and declared by each family
(``job_memory_mb`` in ``mnistkit/models/``). Keras adds its own import (Keras and JAX) the
first time a worker trains it.
"""

from __future__ import annotations

import os
from pathlib import Path

MB = 1024**2


class MemoryLimitError(ValueError):
    """A run that cannot fit in the memory this server gives training."""


def estimate_mb(model: str, train_images: int) -> float:
    """The extra memory a worker needs to train ``model`` on ``train_images`` images, in MB.

    Each family declares its own figures (``job_memory_mb``, measured with bench/job_memory.py).
    """
    from mnistkit.models import REGISTRY

    fixed, per_thousand = REGISTRY[model].job_memory_mb
    return fixed + per_thousand * train_images / 1000


def memory_limit_mb() -> float:
    """``MNISTKIT_MEMORY_MB``, else the cgroup's limit, else the machine's memory, in MB."""
    text = os.environ.get("MNISTKIT_MEMORY_MB", "").strip()
    if text:
        try:
            value = float(text.replace("_", "").replace(",", ""))
        except ValueError:
            value = 0
        if value <= 0:
            raise MemoryLimitError(
                f"MNISTKIT_MEMORY_MB must be a number of megabytes above 0; it is {text!r}."
            )
        return value
    return cgroup_limit_mb() or machine_memory_mb()


def cgroup_limit_mb() -> float | None:
    """The container's memory limit (cgroup v2, else v1), or None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 writes a huge number for "no limit"
            return int(text) / MB
    return None


def machine_memory_mb() -> float:
    """The machine's physical memory in MB."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    except (ValueError, OSError, AttributeError):
        return 4096.0  # a platform that does not say: assume a small laptop


def process_rss_mb(pid: int | None = None) -> float:
    """A process's resident memory in MB (this one by default); 0 where Linux's /proc is absent."""
    try:
        fields = Path(f"/proc/{pid or 'self'}/statm").read_text().split()
    except OSError:
        return 0.0
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / MB
