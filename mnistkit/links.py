"""Run settings as a link's query parameters, and back again, checking every value.

A teacher shares a Train page link such as ``?model=sklearn-mlp&hidden_layers=128&epochs=5``.
Reading it back never trusts it: each parameter is checked against its model's declaration,
and one that cannot be used is ignored with a sentence saying why, never clipped into range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnistkit.models import MODEL_NAMES, REGISTRY
from mnistkit.models.base import HyperparameterError
from mnistkit.training import RunConfig


@dataclass
class LinkSettings:
    """What a link's query parameters ask for, and a sentence per parameter that was ignored."""

    model: str | None = None  # a registry name; None when the link names no usable model
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # epochs included
    train_size: int | None = None
    seed: int | None = None
    ignored: list[str] = field(default_factory=list)


def settings_to_query(config: RunConfig) -> dict[str, str]:
    """The run's settings as text query parameters (the inverse of ``settings_from_query``)."""
    model_class = REGISTRY[config.model]
    query = {"model": config.model}
    for name, value in config.hyperparameters.items():
        query[name] = model_class.declaration(name).format(value)
    query["epochs"] = str(config.epochs)
    if config.train_size is not None:
        query["train_size"] = str(config.train_size)
    query["seed"] = str(config.seed)
    return query


def settings_from_query(params: Mapping[str, str]) -> LinkSettings:
    """Read a link's query parameters; whatever cannot be used is listed in ``ignored``."""
    params = {str(key): str(value) for key, value in params.items()}
    if not params:
        return LinkSettings()
    model = params.pop("model", None)
    if model not in REGISTRY:
        reason = (
            "it does not say which model to train"
            if model is None
            else f"there is no model called {model!r}; the models are {', '.join(MODEL_NAMES)}"
        )
        return LinkSettings(ignored=[f"The link's settings were ignored: {reason}."])
    model_class = REGISTRY[model]
    declared = {h.name: h for h in model_class.hyperparameters}
    settings = LinkSettings(model=model)
    for key, text in params.items():
        try:
            if key in declared:
                settings.hyperparameters[key] = declared[key].parse(text)
            elif key == "train_size":
                settings.train_size = _whole_number(key, text, low=1)
            elif key == "seed":
                settings.seed = _whole_number(key, text, low=0)
            else:
                known = ", ".join([*declared, "train_size", "seed"])
                raise HyperparameterError(
                    f"{model_class.display_name} has no setting called {key!r} ({known})"
                )
        except HyperparameterError as error:
            reason = str(error).rstrip(".")
            settings.ignored.append(f"The link's {key}={text} was ignored: {reason}.")
    return settings


def _whole_number(name: str, text: str, low: int) -> int:
    """``text`` as a whole number from ``low`` up, or a ``HyperparameterError`` saying why."""
    try:
        value = int(text.strip())
    except ValueError:
        raise HyperparameterError(f"{name} must be a whole number") from None
    if value < low:
        raise HyperparameterError(f"{name} must be a whole number from {low} up")
    return value


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


@dataclass(frozen=True)
class SharedPage:
    """The address to hand a class for a page, and whether it only works on this computer."""

    url: str
    local_only: bool  # built from localhost: useless to students on other machines


def shared_page_url(page_url: str, public_url: str | None = None) -> SharedPage:
    """The page's address for students: on ``public_url`` (``MNISTKIT_PUBLIC_URL``) when set.

    ``page_url`` is the address the teacher's browser used, e.g. ``http://localhost:8501/train``;
    only its path is kept when a public address is given.
    """
    from urllib.parse import urlsplit

    page = urlsplit(page_url or "")
    if public_url and public_url.strip():
        base = public_url.strip().rstrip("/")
        if "://" not in base:
            base = f"http://{base}"
        url = base + (page.path or "/")
    else:
        url = f"{page.scheme}://{page.netloc}{page.path}" if page.netloc else page_url.split("?")[0]
    host = (urlsplit(url).hostname or "").lower()
    return SharedPage(url=url, local_only=host in LOCAL_HOSTS or host.startswith("127."))
