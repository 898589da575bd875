"""The same jobs on a real Dask cluster: a `dask scheduler` and two `dask worker`s on loopback.

Each worker loads the bundled sample by its own MNISTKIT_DATA. The cluster is the one that
``scripts/start_dask.sh`` started when MNISTKIT_TEST_DASK_SCHEDULER names it (``.ci/run`` does),
else one these tests start themselves; the test that kills its scheduler always starts its own.
Needs the extra ``mnistkit[cluster]``: without it the tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time

import job_helpers
import pytest
from browser_helpers import free_port
from conftest import ROOT, require

from mnistkit import persistence
from mnistkit.jobs import JobQueue, QueueError, job_spec
from mnistkit.jobs.store import RunStore
from mnistkit.training import RunConfig

TIMEOUT = 180


def _dask_command() -> list[str]:
    dask = shutil.which("dask")
    require(dask is not None, "Dask is not installed: pip install -e '.[cluster]'")
    return [dask]


def _start_cluster(workers: int = 2):
    command = _dask_command()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    environment = {**os.environ, "MNISTKIT_DATA": "sample", "PYTHONPATH": str(ROOT)}
    scheduler = subprocess.Popen(
        [*command, "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    processes = [scheduler]
    for _ in range(workers):
        processes.append(
            subprocess.Popen(
                [
                    *command,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-dashboard",
                    "--memory-limit",
                    "2GB",
                ],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        )
    return address, processes


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster():
    started = os.environ.get("MNISTKIT_TEST_DASK_SCHEDULER", "").strip()
    if started:
        _dask_command()  # the extra is installed here too
        address, processes = started, []
    else:
        address, processes = _start_cluster()
    from distributed import Client

    try:
        client = Client(address, timeout=60)
    except OSError as error:
        pytest.fail(f"the Dask scheduler at {address} cannot be reached ({error}); start one "
                    "with eval \"$(scripts/start_dask.sh start)\", or unset "
                    "MNISTKIT_TEST_DASK_SCHEDULER")  # fmt: skip
    client.wait_for_workers(2, timeout=120)
    client.close()
    yield address
    _stop(processes)


@pytest.fixture(scope="module")
def sample_fingerprint():
    from mnistkit.data import load_mnist
    from mnistkit.jobs import fingerprint

    return fingerprint(load_mnist("sample"))


@pytest.fixture
def queue(cluster):
    from mnistkit.jobs.cluster import DaskExecutor

    made = JobQueue(DaskExecutor(cluster), store=RunStore(50 * 1024**2), memory_limit_mb=1e9)
    yield made
    for ticket in list(made._tickets):
        made.cancel(ticket)
    made.close()


wait_for = functools.partial(job_helpers.wait_for, timeout=TIMEOUT, poll=0.2)


def spec(fp, epochs=3, seed=0, model="scratch-linear", **hyperparameters):
    config = RunConfig(model=model, epochs=epochs, seed=seed, hyperparameters=hyperparameters)
    return job_spec(config, fp, 6_000)


def test_runs_train_on_the_cluster_with_progress_and_a_saved_model(queue, sample_fingerprint):
    assert queue.executor.slots == 2  # one thread on each of the two workers
    first = queue.submit("ann", spec(sample_fingerprint, seed=1))
    second = queue.submit("bob", spec(sample_fingerprint, seed=2))
    for ticket in (first, second):
        status = wait_for(queue, ticket, lambda s: not s.active)
        assert status.state == "done", status.message
        assert [epoch["epoch"] for epoch in status.history] == [1, 2, 3]
        trained = persistence.loads(status.result["model"], status.result["filename"])
        assert trained.config.epochs == 3 and trained.test_accuracy > 0.5


def test_a_worker_refuses_a_run_on_other_digits(queue):
    ticket = queue.submit("cat", spec("0" * 32))
    status = wait_for(queue, ticket, lambda s: not s.active)
    assert status.state == "failed" and "digits differ from the server's" in status.message


def test_stop_on_the_cluster_keeps_nothing(queue, sample_fingerprint):
    slow = spec(sample_fingerprint, epochs=100, model="sklearn-mlp", hidden_layers=(512, 256))
    ticket = queue.submit("dan", slow)
    wait_for(queue, ticket, lambda s: len(s.history) >= 1)
    queue.cancel(ticket)
    assert queue.status(ticket).state == "cancelled" and queue.status(ticket).result is None
    after = queue.submit("dan", spec(sample_fingerprint, seed=3))  # the slot is free again
    assert wait_for(queue, after, lambda s: not s.active).state == "done"


@pytest.mark.slow
def test_the_scheduler_going_away_fails_the_run_in_a_sentence(sample_fingerprint):
    from mnistkit.jobs.cluster import DaskExecutor

    address, processes = _start_cluster(workers=1)
    try:
        deadline = time.monotonic() + 60
        while True:  # the scheduler needs a moment before it accepts clients
            try:
                executor = DaskExecutor(address, connect_seconds=5)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
        executor.client.wait_for_workers(1, timeout=120)
        queue = JobQueue(executor, store=RunStore(1024**2), memory_limit_mb=1e9)
        slow = spec(sample_fingerprint, epochs=100, model="sklearn-mlp", hidden_layers=(512, 256))
        ticket = queue.submit("eve", slow)
        waiting = queue.submit("fay", spec(sample_fingerprint, seed=4))
        wait_for(queue, ticket, lambda s: len(s.history) >= 1)
        processes[0].kill()  # the scheduler
        status = wait_for(queue, ticket, lambda s: not s.active, timeout=120)
        assert status.state == "failed"
        assert f"scheduler at {address} cannot be reached" in status.message
        assert queue.status(waiting).state == "failed"  # not left waiting for ever
        with pytest.raises(QueueError, match="cannot be reached"):
            queue.submit("gus", spec(sample_fingerprint, seed=5))
        queue.close()
    finally:
        _stop(processes)


def test_an_unreachable_scheduler_is_one_sentence():
    from mnistkit.jobs.cluster import DaskExecutor

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ValueError, match=f"scheduler at {address} cannot be reached"):
        DaskExecutor(address, connect_seconds=2)


def test_the_dask_extra_is_what_the_cluster_needs():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'cluster = [\n    "distributed' in pyproject
