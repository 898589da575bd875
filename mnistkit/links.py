"""Run settings as a link's query parameters, and back again, checking every value.

A teacher shares a Train page link such as ``?model=sklearn-mlp&hidden_layers=128&epochs=5``.
A link made by ``settings_to_query`` carries every setting of the run (``declarations`` in
``mnistkit.training``), and the preset's name when the settings are one, so it trains the same run
wherever it is opened. Reading it back never trusts it: a ``preset`` is applied first, by the one
function that applies presets, then each parameter is checked against its declaration; one that
cannot be used is ignored with a sentence saying why, never clipped into range. Settings a link
leaves out keep their declared defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnistkit.models import MODEL_NAMES, REGISTRY
from mnistkit.models.base import HyperparameterError
from mnistkit.training import RunConfig, declarations, preset_settings

PRESET = "preset"  # the query parameter naming a preset
# Query parameters that are not a run's settings: class mode's join code, learner and teacher
# links. A link that carries only these asks for no run, so it is not read as a broken one.
NOT_SETTINGS = frozenset({"join", "learner", "code", "teacher"})


@dataclass
class LinkSettings:
    """What a link's query parameters ask for, and a sentence per parameter that was ignored."""

    model: str | None = None  # a registry name; None when the link names no usable model
    settings: dict[str, Any] = field(default_factory=dict)  # every setting of the run, by name
    preset: str | None = None  # the preset the settings are, if they are one
    ignored: list[str] = field(default_factory=list)

    def config(self) -> RunConfig | None:
        """The run the link describes, or None when it names no usable model."""
        return None if self.model is None else RunConfig.from_settings(self.model, self.settings)


def settings_to_query(config: RunConfig) -> dict[str, str]:
    """The run's settings as text query parameters (the inverse of ``settings_from_query``)."""
    query = {"model": config.model}
    preset = config.preset()
    if preset is not None:
        query[PRESET] = preset
    known = declarations(config.model)
    for name, value in config.settings().items():
        query[name] = known[name].format(value)
    return query


def settings_from_query(params: Mapping[str, str]) -> LinkSettings:
    """Read a link's query parameters; whatever cannot be used is listed in ``ignored``."""
    params = {str(key): str(value) for key, value in params.items() if key not in NOT_SETTINGS}
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
    link = LinkSettings(model=model, settings=preset_settings(model, None))
    if PRESET in params:
        text = params.pop(PRESET)
        try:
            link.settings = preset_settings(model, text)
        except HyperparameterError as error:
            link.ignored.append(f"The link's {PRESET}={text} was ignored: {_reason(error)}.")
    known = declarations(model)
    for key, text in params.items():
        try:
            if key not in known:
                raise HyperparameterError(
                    f"{REGISTRY[model].display_name} has no setting called {key!r} "
                    f"({', '.join(known)})"
                )
            link.settings[key] = known[key].parse(text)
        except HyperparameterError as error:
            link.ignored.append(f"The link's {key}={text} was ignored: {_reason(error)}.")
    link.preset = link.config().preset()
    return link


def _reason(error: Exception) -> str:
    return str(error).rstrip(".")


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
