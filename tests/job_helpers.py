"""Waiting in AppTest for a run queued by the Train page to come back from its worker."""

from __future__ import annotations

import time

TIMEOUT = 180  # seconds; a first run also starts its worker process


def finish_run(at, timeout: float = TIMEOUT):
    """Rerun the page until the visitor's queued run has finished (or failed); returns ``at``."""
    from mnistkit.ui.jobs import TICKET_KEY

    deadline = time.monotonic() + timeout
    while TICKET_KEY in at.session_state:
        if time.monotonic() > deadline:
            raise AssertionError("the queued run did not finish in time")
        time.sleep(0.3)
        at.run()
    return at
