"""What one job does, wherever it runs: plain settings in, a saved model file's bytes out.

For a family that ``needs_worker`` (Keras, scikit-learn), the result also holds the model as
arrays (``models.reading``), so the server takes the finished model without loading its framework.

A job's *spec* is plain data, ``{"config": RunConfig.to_dict(), "fingerprint": ...,
"mnistkit_version": ...}``, so a local worker process and a Dask worker run the same
``run_job``. The worker loads its own data set once (the one ``MNISTKIT_DATA`` names, as
``load_mnist("auto")`` chooses it) and refuses a job whose data fingerprint differs from its own:
a model trained on other digits would silently score something else. Progress flows back as data:
``report`` receives each epoch's metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import mnistkit

__all__ = [
    "Cancelled",
    "DataMismatch",
    "fingerprint",
    "job_key",
    "job_spec",
    "run_job",
    "worker_dataset",
]

_LOADED: dict[str, tuple[Any, str]] = {}  # this process's data set, by MNISTKIT_DATA, + print


class DataMismatch(ValueError):
    """A worker whose data set is not the one the server trains on."""


class Cancelled(Exception):
    """The job was stopped; nothing it trained is kept."""


DIGITS = "digits"  # a job's own data set, when the workers cannot load it themselves
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def fingerprint(dataset) -> str:
    """A short hash of the data set's four arrays: equal digits and labels, equal fingerprints."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B") if array.flags.c_contiguous else array.tobytes())
    return digest.hexdigest()


def job_spec(
    config, data_fingerprint: str, available_images: int = 60_000, digits=None
) -> dict[str, Any]:
    """The plain-data description of a training run on the data set with ``data_fingerprint``.

    ``available_images`` is that data set's number of training images (what a run with no
    ``train_size`` trains on), for the queue's estimates of memory and time. ``digits`` is a
    data set the workers cannot load themselves (a class's own handwriting, a few thousand
    digits at most): its four arrays travel with the job.
    """
    spec = {
        "config": config.to_dict(),
        "fingerprint": data_fingerprint,
        "available_images": int(available_images),
        "mnistkit_version": mnistkit.__version__,
    }
    if digits is not None:
        spec[DIGITS] = {
            "arrays": {name: getattr(digits, name) for name in ARRAYS},
            "source": digits.source,
        }
    return spec


def job_key(spec: dict[str, Any]) -> str:
    """What makes two runs identical: every setting, the data's fingerprint, mnistkit's version."""
    described = {key: value for key, value in spec.items() if key != DIGITS}  # the fingerprint
    return json.dumps(described, sort_keys=True, separators=(",", ":"))


def _sent_dataset(sent: dict[str, Any]):
    from mnistkit.data import Dataset

    dataset = Dataset(**sent["arrays"], source=sent["source"])
    return dataset, fingerprint(dataset)


def worker_dataset():
    """This process's data set and its fingerprint, loaded once per ``MNISTKIT_DATA`` value."""
    setting = os.environ.get("MNISTKIT_DATA", "")
    if setting not in _LOADED:
        from mnistkit.data import load_mnist

        dataset = load_mnist("auto")
        _LOADED.clear()  # one data set per worker
        _LOADED[setting] = (dataset, fingerprint(dataset))
    return _LOADED[setting]


def run_job(
    spec: dict[str, Any],
    report: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train the run ``spec`` describes on this worker's data; the saved model and its history.

    Raises ``DataMismatch`` when this worker's digits differ from the server's, ``Cancelled``
    when ``should_stop()`` turns true after an epoch, and the training's own ``ValueError``s
    (settings that cannot work, a diverged loss) with their sentences.
    """
    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    if spec.get("mnistkit_version") != mnistkit.__version__:
        raise DataMismatch(
            f"This worker runs mnistkit {mnistkit.__version__} but the server asked for "
            f"{spec.get('mnistkit_version')}; install the same version on both."
        )
    dataset, own = _sent_dataset(spec[DIGITS]) if DIGITS in spec else worker_dataset()
    if own != spec["fingerprint"]:
        raise DataMismatch(
            "This worker's digits differ from the server's (its MNISTKIT_DATA names another "
            f"data set: {dataset.source}); point both at the same file."
        )
    config = RunConfig.from_dict(spec["config"])

    def on_epoch(epoch: int, metrics: dict) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled
        if report is not None:
            report({"epoch": epoch, **metrics})

    trained = train(config, dataset, on_epoch=on_epoch)
    data, filename = persistence.dumps(trained)
    result = {
        "model": data,
        "filename": filename,
        "name": trained.name,
        "history": trained.history,
        "seconds": trained.seconds,
        "test_accuracy": trained.test_accuracy,
    }
    if type(trained.model).needs_worker:  # the server keeps it as arrays, loading no framework
        from mnistkit.models import reading

        result["reading"] = reading(trained.model)
    return result
