"""The memory one training job adds to a worker, per family and training-set size.

Each run happens in a fresh worker process that has already loaded the data set and imported
what every run needs (as a pool's worker has); it prints the process's resident memory before
the run and its peak (``ru_maxrss``) after it, and the difference is what
each family's ``job_memory_mb`` (in ``mnistkit/models/``) must cover. Run::

    MNISTKIT_DATA=/path/to/mnist.npz python bench/job_memory.py [families...] [sizes...]
"""

from __future__ import annotations

import multiprocessing
import resource
import sys


def _measure(model: str, train_size: int, results) -> None:
    import mnistkit.persistence  # noqa: F401 - as a pool worker does before its first job
    import mnistkit.training  # noqa: F401
    from mnistkit.jobs import resources, work

    dataset, print_ = work.worker_dataset()
    before = resources.process_rss_mb()
    config = mnistkit.training.RunConfig(model=model, train_size=train_size, epochs=2)
    work.run_job(work.job_spec(config, print_, len(dataset.y_train)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    results.put((model, train_size, before, peak))


def main(sizes: list[int], families: list[str]) -> None:
    context = multiprocessing.get_context("spawn")
    print(f"{'family':16} {'images':>7} {'idle MB':>8} {'peak MB':>8} {'extra MB':>9}")
    for model in families:
        for size in sizes:
            results = context.Queue()
            process = context.Process(target=_measure, args=(model, size, results))
            process.start()
            model_, size_, before, peak = results.get()
            process.join()
            print(f"{model_:16} {size_:>7,} {before:>8.0f} {peak:>8.0f} {peak - before:>9.0f}")


if __name__ == "__main__":
    from mnistkit.models import REGISTRY

    chosen = [a for a in sys.argv[1:] if a in REGISTRY]  # families named, else every one
    numbers = [int(a) for a in sys.argv[1:] if a not in REGISTRY]
    main(numbers or [10_000, 60_000], chosen or list(REGISTRY))
