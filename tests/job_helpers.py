"""Waiting for queued runs: in AppTest, for the Train page's run; in a queue, for a ticket."""

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


def rerun_until(at, condition, timeout: float = 600):
    """Rerun the page (as its progress fragment does every second) until ``condition(at)``."""
    deadline = time.monotonic() + timeout
    while not condition(at):
        if time.monotonic() > deadline:
            shown = [str(e.value) for kind in ("error", "info", "caption") for e in at.get(kind)]
            raise AssertionError(f"the page did not get there in time; it showed {shown}")
        assert not at.exception, [e.value for e in at.exception]
        time.sleep(0.3)
        at.run()
    return at


def wait_for(queue, ticket, condition, timeout: float = TIMEOUT, poll: float = 0.1):
    """Poll the queue until the ticket's status meets ``condition``; returns that status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = queue.status(ticket)
        if condition(status):
            return status
        time.sleep(poll)
    raise AssertionError(f"timed out; last status {queue.status(ticket)}")
