"""The training queue on real worker processes: order, places, Stop, faults, the run store, memory.

Workers load the bundled sample (MNISTKIT_DATA=sample), so these tests need no download; each
uses real spawned processes, and the faults are real ``kill -9``s.
"""

from __future__ import annotations

import functools
import os
import signal
import time

import job_helpers
import pytest

from mnistkit import persistence
from mnistkit.jobs import AlreadyQueued, JobQueue, MemoryLimitError, QueueFull, job_spec, resources
from mnistkit.jobs.local import WORKER_DIED, LocalPool
from mnistkit.jobs.store import RunStore
from mnistkit.jobs.work import fingerprint
from mnistkit.training import RunConfig

TIMEOUT = 120  # seconds; two shared cores make a spawned worker's start slow


@pytest.fixture(scope="module")
def sample_fingerprint():
    from mnistkit.data import load_mnist

    return fingerprint(load_mnist("sample"))


@pytest.fixture(scope="module")
def pool():
    """Two worker processes on the bundled sample, shared by this module's tests."""
    previous = os.environ.get("MNISTKIT_DATA")
    os.environ["MNISTKIT_DATA"] = "sample"
    workers = LocalPool(2)
    yield workers
    workers.close()
    if previous is None:
        os.environ.pop("MNISTKIT_DATA")
    else:
        os.environ["MNISTKIT_DATA"] = previous


@pytest.fixture
def queue(pool):
    assert pool.wait_ready(), "the workers did not start"
    made = []

    def make(**options) -> JobQueue:
        options.setdefault("memory_limit_mb", 1e9)
        made.append(JobQueue(pool, store=RunStore(50 * 1024**2), **options))
        return made[-1]

    yield make
    for queue in made:  # nothing of one test runs on into the next
        for ticket in list(queue._tickets):
            queue.cancel(ticket)
    deadline = time.monotonic() + TIMEOUT
    while pool.free_slots() < pool.slots and time.monotonic() < deadline:
        time.sleep(0.2)


def quick(fp, seed=0, epochs=2):
    """A run of a second or two on the sample."""
    return job_spec(RunConfig(model="scratch-linear", epochs=epochs, seed=seed), fp, 6_000)


def slow(fp, seed=0):
    """A run of many short epochs: long enough to be stopped or killed while it trains."""
    layers = {"hidden_layers": (512, 256)}
    config = RunConfig(model="sklearn-mlp", hyperparameters=layers, epochs=100, seed=seed)
    return job_spec(config, fp, 6_000)


wait_for = functools.partial(job_helpers.wait_for, timeout=TIMEOUT)


def finished(status):
    return not status.active


def training(status):
    return status.state == "running" and len(status.history) >= 1


def test_a_run_comes_back_as_a_saved_model_with_its_history(queue, sample_fingerprint):
    jobs = queue()
    ticket = jobs.submit("ann", quick(sample_fingerprint))
    status = wait_for(jobs, ticket, finished)
    assert status.state == "done", status.message
    assert [epoch["epoch"] for epoch in status.history] == [1, 2]
    trained = persistence.loads(status.result["model"], status.result["filename"])
    assert trained.config.epochs == 2 and trained.test_accuracy > 0.5  # the sample's test digits
    assert status.worker.startswith("process ")


@pytest.mark.slow
def test_a_keras_run_comes_back_as_arrays_too_so_the_server_needs_no_keras(
    queue, sample_fingerprint
):
    from mnistkit.data import load_mnist
    from mnistkit.models import NetworkClassifier

    jobs = queue()
    config = RunConfig(model="keras-mlp", hyperparameters={"hidden_layers": (32,)}, epochs=2)
    status = wait_for(
        jobs, jobs.submit("kim", job_spec(config, sample_fingerprint, 6_000)), finished
    )
    assert status.state == "done", status.message
    result = status.result
    as_arrays = persistence.loads(
        result["model"], result["filename"], reader=lambda data, name: result["reading"]
    )
    assert type(as_arrays.model) is NetworkClassifier
    in_keras = persistence.loads(result["model"], result["filename"])  # what the CLI does
    images = load_mnist("sample").x_test
    assert abs(as_arrays.predict_proba(images) - in_keras.predict_proba(images)).max() < 1e-5
    assert persistence.dumps(as_arrays) == (result["model"], result["filename"])


def test_runs_start_in_the_order_they_came_and_each_sees_its_place(queue, sample_fingerprint):
    jobs = queue()
    first = jobs.submit("ann", slow(sample_fingerprint, seed=1))
    jobs.submit("bob", slow(sample_fingerprint, seed=2))  # both workers now busy
    third = jobs.submit("cat", slow(sample_fingerprint, seed=3))
    fourth = jobs.submit("dan", quick(sample_fingerprint, seed=4))
    assert (jobs.status(third).place, jobs.status(fourth).place) == (1, 2)
    assert jobs.status(third).waiting == 2
    assert jobs.status(fourth).wait_seconds > jobs.status(third).wait_seconds > 0
    wait_for(jobs, first, training)
    jobs.cancel(first)  # frees one worker: the third run, not the fourth, takes it
    assert wait_for(jobs, third, lambda s: s.state != "waiting").state == "running"
    assert jobs.status(fourth).state == "waiting" and jobs.status(fourth).place == 1
    jobs.cancel(third)
    assert wait_for(jobs, fourth, finished).state == "done"


def test_stop_while_waiting_takes_the_run_out_of_line(queue, sample_fingerprint):
    jobs = queue()
    busy = [jobs.submit(f"busy{i}", slow(sample_fingerprint, seed=10 + i)) for i in range(2)]
    waiting = jobs.submit("eve", quick(sample_fingerprint, seed=5))
    behind = jobs.submit("fay", quick(sample_fingerprint, seed=6))
    assert jobs.status(behind).place == 2
    jobs.cancel(waiting)
    assert jobs.status(waiting).state == "cancelled" and jobs.status(waiting).result is None
    assert jobs.status(behind).place == 1
    assert jobs.active_ticket("eve") is None  # she may start another run
    for ticket in busy:
        jobs.cancel(ticket)
    assert wait_for(jobs, behind, finished).state == "done"


def test_stop_while_running_keeps_nothing_and_frees_the_worker(pool, queue, sample_fingerprint):
    jobs = queue()
    ticket = jobs.submit("gus", slow(sample_fingerprint, seed=20))
    wait_for(jobs, ticket, training)
    pid = pool.worker_pid("job-1")
    jobs.cancel(ticket)
    status = jobs.status(ticket)
    assert status.state == "cancelled" and status.result is None
    assert len(jobs.store) == 0  # nothing half-trained was kept for anyone
    _wait_gone(pid)
    after = jobs.submit("gus", quick(sample_fingerprint, seed=21))
    assert wait_for(jobs, after, finished).state == "done"


def test_one_run_per_visitor_at_a_time(queue, sample_fingerprint):
    jobs = queue()
    jobs.submit("hal", slow(sample_fingerprint, seed=30))
    with pytest.raises(AlreadyQueued, match="already have a run waiting or training"):
        jobs.submit("hal", quick(sample_fingerprint, seed=31))


def test_a_full_queue_says_so_and_states_its_cap(queue, sample_fingerprint):
    jobs = queue(max_waiting_runs=1)
    for i in range(2):
        jobs.submit(f"run{i}", slow(sample_fingerprint, seed=40 + i))  # both workers busy
    jobs.submit("ivy", quick(sample_fingerprint, seed=42))  # waits: the queue is now full
    with pytest.raises(QueueFull, match=r"queue is full: 1 runs are waiting.*is 1"):
        jobs.submit("jon", quick(sample_fingerprint, seed=43))


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_only(pool, queue, sample_fingerprint):
    jobs = queue()
    victim = jobs.submit("kim", slow(sample_fingerprint, seed=50))
    other = jobs.submit("lee", quick(sample_fingerprint, seed=51, epochs=20))
    wait_for(jobs, victim, training)
    pid = int(jobs.status(victim).worker.split()[-1])
    before = set(pool.pids())
    os.kill(pid, signal.SIGKILL)
    status = wait_for(jobs, victim, finished, timeout=30)  # fails, does not hang
    assert status.state == "failed" and status.message == WORKER_DIED
    assert wait_for(jobs, other, finished).state == "done"  # the other run is not lost
    deadline = time.monotonic() + 30
    while (pid in pool.pids() or len(pool.pids()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in pool.pids() and len(pool.pids()) == 2 and set(pool.pids()) != before
    again = jobs.submit("kim", quick(sample_fingerprint, seed=52))  # the pool still works
    assert wait_for(jobs, again, finished).state == "done"


def test_a_run_whose_worker_vanished_before_training_fails(pool, queue, sample_fingerprint):
    jobs = queue()
    ticket = jobs.submit("max", slow(sample_fingerprint, seed=60))
    pid = pool.worker_pid("job-1")
    os.kill(pid, signal.SIGKILL)  # gone before it reported a single epoch
    status = wait_for(jobs, ticket, finished, timeout=30)
    assert status.state == "failed" and "stopped unexpectedly" in status.message


def test_a_worker_refuses_a_run_on_other_digits(queue):
    jobs = queue()
    ticket = jobs.submit("ned", quick("0" * 32))
    status = wait_for(jobs, ticket, finished)
    assert status.state == "failed"
    assert "digits differ from the server's" in status.message


def test_the_same_run_is_trained_once(queue, sample_fingerprint):
    jobs = queue()
    first = jobs.submit("oli", quick(sample_fingerprint, seed=70))
    twin = jobs.submit("pam", quick(sample_fingerprint, seed=70))  # asked while it trains
    assert jobs.status(twin).reused and not jobs.status(first).reused
    done = wait_for(jobs, first, finished)
    assert wait_for(jobs, twin, finished).result is done.result
    later = jobs.submit("quin", quick(sample_fingerprint, seed=70))  # asked once it is done
    status = jobs.status(later)
    assert status.state == "done" and status.reused and status.result is done.result
    different = jobs.submit("ray", quick(sample_fingerprint, seed=71))  # another seed: trained
    assert jobs.status(different).active


def test_stopping_a_shared_run_leaves_it_training_for_the_other(queue, sample_fingerprint):
    jobs = queue()
    mine = jobs.submit("sam", quick(sample_fingerprint, seed=80, epochs=8))
    theirs = jobs.submit("tia", quick(sample_fingerprint, seed=80, epochs=8))
    jobs.cancel(mine)
    assert jobs.status(mine).state == "cancelled"
    assert wait_for(jobs, theirs, finished).state == "done"


def test_the_run_store_forgets_the_oldest_runs_beyond_its_bytes():
    store = RunStore(max_bytes=10_000)
    for index in range(4):
        store.put(f"run{index}", {"model": b"x" * 3_000, "history": []})
    assert store.bytes <= 10_000
    assert "run0" not in store and "run3" in store and len(store) == 2
    store.get("run2")  # used now, so run3 goes first
    store.put("run4", {"model": b"x" * 3_000, "history": []})
    assert "run2" in store and "run3" not in store
    store.put("huge", {"model": b"x" * 20_000, "history": []})
    assert "huge" not in store and store.bytes <= 10_000


def test_the_run_store_counts_the_network_a_run_sends_as_arrays():
    """A Keras or scikit-learn run also keeps its network as packed arrays: that counts too."""
    store = RunStore(max_bytes=10_000)
    layer = {"kind": "dense", "weights": {"shape": [10, 10], "data": "A" * 2_500}}
    for index in range(3):
        reading = {"network": {"layers": [layer, layer]}, "description": "Keras MLP 10"}
        store.put(f"run{index}", {"model": b"x" * 1_000, "history": [], "reading": reading})
    assert store.bytes <= 10_000
    assert "run0" not in store and len(store) == 1


def test_a_run_that_can_never_fit_is_refused_with_what_to_do(queue, sample_fingerprint):
    jobs = queue(memory_limit_mb=100)  # less than the server process alone
    with pytest.raises(MemoryLimitError, match="ready-made model.*smaller family.*sample"):
        jobs.submit("uma", quick(sample_fingerprint))
    assert jobs.active_ticket("uma") is None


def test_a_run_waits_for_memory_even_with_a_worker_free(pool, queue, sample_fingerprint):
    assert pool.wait_ready()
    one_run = resources.estimate_mb("sklearn-mlp", 6_000)
    room = resources.process_rss_mb() + pool.memory_mb() + 1.5 * one_run  # one run, not two
    jobs = queue(memory_limit_mb=room)
    first = jobs.submit("vic", slow(sample_fingerprint, seed=90))
    second = jobs.submit("wes", slow(sample_fingerprint, seed=91))
    wait_for(jobs, first, training)
    assert pool.free_slots() == 1
    assert jobs.status(second).state == "waiting" and jobs.status(second).place == 1
    jobs.cancel(first)
    assert wait_for(jobs, second, lambda s: s.state != "waiting").state == "running"


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs")


def test_a_worker_never_runs_the_app_script_whatever_the_main_module_is_at_its_start(tmp_path):
    """Streamlit makes each visitor's script run the main module, from any thread at any time.

    A worker started while the app script is ``__main__`` must not run it (a whole app in every
    worker); another program's spawned process still does, which shows the test can see it.
    """
    import multiprocessing
    import sys
    import types

    from mnistkit.jobs.local import _start_without_main

    marker = tmp_path / "ran"
    script = tmp_path / "app_script.py"
    script.write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    app = types.ModuleType("__main__")
    app.__file__ = str(script)
    app.__spec__ = None
    context = multiprocessing.get_context("spawn")
    main = sys.modules["__main__"]
    sys.modules["__main__"] = app  # as during a visitor's script run
    try:
        ours = context.Process(target=time.sleep, args=(0,), name="mnistkit-worker")
        _start_without_main(ours)
        ours.join(60)
        assert ours.exitcode == 0 and not marker.exists()
        other = context.Process(target=time.sleep, args=(0,), name="someone-else")
        _start_without_main(other)
        other.join(60)
    finally:
        sys.modules["__main__"] = main
    assert marker.read_text() == "ran\n"
