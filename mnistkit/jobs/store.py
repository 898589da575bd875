"""Finished runs kept once per server, so an identical run costs nothing the second time.

A run's key (``work.job_key``) holds every setting, the data's fingerprint and mnistkit's version.
The store keeps the saved model file and its history, and forgets the least recently used runs
once their bytes pass ``max_bytes`` (``MNISTKIT_RUN_STORE_MB``, default 256 MB).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from mnistkit.network import packed_texts

DEFAULT_MB = 256


def default_max_bytes() -> int:
    text = os.environ.get("MNISTKIT_RUN_STORE_MB", "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MB
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ValueError(f"MNISTKIT_RUN_STORE_MB must be a number of megabytes; it is {text!r}.")
    return int(megabytes * 1024**2)


def result_bytes(result: dict[str, Any]) -> int:
    """What a finished run costs to keep: its model file, the network it sends the server as
    arrays (a Keras or scikit-learn run's ``reading``: its weights as base64 text), and a little
    for its history."""
    reading = result.get("reading")
    arrays = sum(map(len, packed_texts(reading["network"]))) if reading else 0
    return len(result["model"]) + arrays + 200 * len(result.get("history", ())) + 1024


class RunStore:
    """Finished runs by key, least recently used forgotten first, within ``max_bytes``."""

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            result = self._runs.get(key)
            if result is not None:
                self._runs.move_to_end(key)
            return result

    def put(self, key: str, result: dict[str, Any]) -> None:
        size = result_bytes(result)
        with self._lock:
            if key in self._runs:
                self._bytes -= result_bytes(self._runs.pop(key))
            if size > self.max_bytes:
                return  # larger than the whole store: handed to its asker, not kept
            self._runs[key] = result
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, oldest = self._runs.popitem(last=False)
                self._bytes -= result_bytes(oldest)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, key: str) -> bool:
        return key in self._runs
