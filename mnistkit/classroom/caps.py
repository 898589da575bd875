"""Class mode's caps, declared once; each may be changed with its environment variable.

A request over a cap raises ``CapReached`` (a ``ValueError``) whose sentence states the cap.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

DEFAULTS = {
    "MNISTKIT_CLASS_DAYS": 30,  # days a class is kept unless the teacher keeps it for good
    "MNISTKIT_MAX_CLASSES": 50,  # classes one server holds
    "MNISTKIT_MAX_LEARNERS": 60,  # learners in one class
    "MNISTKIT_MAX_CLASS_DIGITS": 200,  # handwriting digits one learner may add
    "MNISTKIT_MAX_DATABASE_MB": 2048,  # the class database's size on disk, in megabytes
    "MNISTKIT_JOIN_ATTEMPTS": 10,  # failed join attempts one browser may make per minute
}
NICKNAME_CHARACTERS = 24
CLASS_NAME_CHARACTERS = 80
SERVER_JOIN_ATTEMPTS_PER_MINUTE = 300  # failed attempts from everyone together


class CapReached(ValueError):
    """A request over one of class mode's caps; the sentence states the cap."""


def setting(variable: str) -> int:
    """A cap from its environment variable, else its default; a misspelt value is refused."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return DEFAULTS[variable]
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise CapReached(f"{variable} must be a whole number from 1 up; it is set to {text!r}.")
    return value


class JoinAttempts:
    """Failed join attempts per browser (and for the whole server) over the last minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._everyone: deque[float] = deque()

    def check(self, client: str) -> None:
        """Refuse another attempt from ``client`` while it is over the cap."""
        now = time.monotonic()
        cap = setting("MNISTKIT_JOIN_ATTEMPTS")
        with self._lock:
            recent = self._recent(self._failures.get(client, deque()), now)
            everyone = self._recent(self._everyone, now)
            if len(recent) >= cap:
                raise CapReached(
                    f"Too many wrong join codes from this browser: at most {cap} a minute; "
                    "wait a minute, then check the code with your teacher."
                )
            if len(everyone) >= SERVER_JOIN_ATTEMPTS_PER_MINUTE:
                raise CapReached(
                    f"This server has had {SERVER_JOIN_ATTEMPTS_PER_MINUTE} wrong join codes in "
                    "the last minute, the most it accepts; wait a minute and try again."
                )

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
            self._everyone.append(now)
            if len(self._failures) > 10_000:  # forget idle browsers
                for key in [k for k, v in self._failures.items() if not self._recent(v, now)]:
                    del self._failures[key]

    @staticmethod
    def _recent(attempts: deque[float], now: float) -> deque[float]:
        while attempts and attempts[0] < now - 60:
            attempts.popleft()
        return attempts


JOIN_ATTEMPTS = JoinAttempts()
