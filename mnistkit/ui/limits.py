"""The caps that keep one shared server usable by a whole class, declared once.

They are the server's rules, not the library's: the pages check them before training a model or
reading a visitor's file, while Python and the command line can train anything a model declares.
Each cap has a default here and may be changed with an environment variable before the server
starts, e.g. ``MNISTKIT_MAX_MODELS=20 streamlit run app.py``. A request over a cap is refused with
``LimitError``, whose sentence states the cap; nothing is clipped silently.
"""

from __future__ import annotations

import os

MAX_MODELS = 10  # models a visitor keeps at once (trained or uploaded); MNISTKIT_MAX_MODELS
MAX_IMAGES_PER_RUN = 6_000_000  # training images times epochs in one run: 60,000 x 100, the
# longest run a model declares, so the Train page never offers a run it refuses;
# MNISTKIT_MAX_IMAGES_PER_RUN
MAX_UPLOAD_MB = 200  # the largest file read from a visitor, in megabytes, as maxUploadSize in
# .streamlit/config.toml; MNISTKIT_MAX_UPLOAD_MB

ENVIRONMENT = {
    "MNISTKIT_MAX_MODELS": MAX_MODELS,
    "MNISTKIT_MAX_IMAGES_PER_RUN": MAX_IMAGES_PER_RUN,
    "MNISTKIT_MAX_UPLOAD_MB": MAX_UPLOAD_MB,
}


class LimitError(ValueError):
    """A request beyond one of the server's caps, explained with the cap's value."""


def max_models() -> int:
    """How many models a visitor may keep at once."""
    return _setting("MNISTKIT_MAX_MODELS")


def max_images_per_run() -> int:
    """The most training images times epochs one run may take."""
    return _setting("MNISTKIT_MAX_IMAGES_PER_RUN")


def max_upload_bytes() -> int:
    """The largest file (picture, model, digit set) mnistkit reads from a visitor, in bytes."""
    return _setting("MNISTKIT_MAX_UPLOAD_MB") * 1024**2


def check_models(count: int) -> None:
    """Refuse a new model when a visitor already keeps ``count`` models."""
    cap = max_models()
    if count >= cap:
        raise LimitError(
            f"You already have {count} models, the most one visitor may keep on this server "
            f"is {cap}; remove one (download it first to keep it) before adding another."
        )


def check_run(train_size: int, epochs: int) -> None:
    """Refuse a run of ``epochs`` passes over ``train_size`` images when it exceeds the cap."""
    cap = max_images_per_run()
    if train_size * epochs > cap:
        raise LimitError(
            f"{train_size:,} training images x {epochs} epochs is {train_size * epochs:,} "
            f"images to learn from, more than the {cap:,} one run may take on this server; "
            "use fewer images or fewer epochs."
        )


def check_upload(size: int, what: str, error: type[ValueError] = LimitError) -> None:
    """Refuse (with ``error``) a file of ``size`` bytes, named ``what``, over the upload cap."""
    cap = max_upload_bytes()
    if size > cap:
        raise error(
            f"{what} is {size / 1024**2:.1f} MB, larger than the {cap // 1024**2} MB "
            "mnistkit accepts."
        )


def _setting(variable: str) -> int:
    """A cap from its environment variable, else its default; a misspelt value is refused."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return ENVIRONMENT[variable]
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise LimitError(f"{variable} must be a whole number from 1 up; it is set to {text!r}.")
    return value
