"""Streamlit's own frontend, handed to a class's browsers from memory.

Every new browser fetches about a hundred of Streamlit's script files before the app's code runs.
Served from disk through Streamlit's stack, that costs the server about 0.12 s of CPU per
visitor, half of what opening the Draw page costs it. These files never change while the server
runs and their names carry their content's hash, so they are read once, gzipped once, and sent
from memory afterwards. The scripts and style sheets are gzipped in a background thread as the
server starts (about 0.7 s of CPU, 7 MB held), so that no visitor of a class waits for it and
none of it counts against the class. Only a fixed list of the package's own files is ever
served here; anything else goes on to Streamlit unchanged.

Custom components' files (the pen's script, 400 kB) come through Streamlit's own route, which
gzips every answer afresh at level 9: about 35 ms of CPU per visitor for the pen alone. The first
answer for each such file is taken from Streamlit as it is, checks and headers included, gzipped
once and kept; later visitors of the same address get that copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import mimetypes
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from streamlit.logger import get_logger

LOGGER = get_logger(__name__)  # the server's log, e.g. the terminal running `streamlit run`

# Streamlit's own answer for these files: cache for a year, the name changes with the content
CACHE_CONTROL = b"public, immutable, max-age=31536000"
COMPONENT_ROUTE = "/_stcore/bidi-components/"  # Streamlit's route for components' files
COMPONENT_FILES = (".js", ".css", ".mjs")  # kept: never .html, which Streamlit marks no-cache
COMPONENT_BYTES = 16 << 20  # at most this much of components' files is kept (gzipped)
COMPONENT_FILE_BYTES = 8 << 20  # a larger file is passed on to Streamlit every time


class FrontendFromMemory:
    """ASGI middleware: GET or HEAD of a file under Streamlit's ``static/`` folder, from memory.

    ``directory`` is Streamlit's frontend folder; ``base_url`` its ``server.baseUrlPath``.
    """

    def __init__(self, app, directory: str | None = None, base_url: str | None = None) -> None:
        from streamlit import config, file_util

        self.app = app
        root = Path(directory or file_util.get_static_dir())
        prefix = "/" + (
            base_url if base_url is not None else config.get_option("server.baseUrlPath")
        )
        prefix = prefix.rstrip("/")
        # the address of every file the frontend may ask for -> its place on disk (nothing else)
        self.files = {
            f"{prefix}/{path.relative_to(root).as_posix()}": path
            for path in (root / "static").rglob("*")
            if path.is_file()
        }
        self.ready: dict[str, tuple[bytes, bytes, bool]] = {}  # address -> type, body, gzipped
        self.component_prefix = f"{prefix}{COMPONENT_ROUTE}"
        # a component file's address -> (the Origin asked with, Streamlit's headers, gzipped body)
        self.components: dict[str, tuple[bytes | None, list, bytes]] = {}
        self._component_bytes = 0
        threading.Thread(target=self._read_scripts, name="mnistkit-gzip", daemon=True).start()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path not in self.files:
            if self._keeps_component_file(scope):
                await self._component_file(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        content_type, body, packed = self.ready.get(path) or self._read(path)
        if packed and not _takes_gzip(scope):
            await self.app(scope, receive, send)  # a client that takes no gzip: from disk
            return
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", CACHE_CONTROL),
            (b"vary", b"Accept-Encoding"),
        ]
        if packed:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else body
        await send({"type": "http.response.body", "body": body})

    def _keeps_component_file(self, scope) -> bool:
        path = scope["path"]
        return (
            scope["method"] == "GET"
            and path.startswith(self.component_prefix)
            and path.endswith(COMPONENT_FILES)
            and _takes_gzip(scope)
        )

    async def _component_file(self, scope, receive, send) -> None:
        """A custom component's script or style sheet: Streamlit's first answer, gzipped once.

        Streamlit's answer carries a CORS header chosen by the request's Origin, so the copy is
        handed only to requests with the Origin of the first (a class's browsers all share one);
        any other is answered by Streamlit as usual.
        """
        path, origin = scope["path"], _value(scope["headers"], b"origin")
        kept = self.components.get(path)
        if kept is not None and kept[0] == origin:
            await _send_gzipped(send, kept[1], kept[2])
            return
        if kept is not None:
            await self.app(scope, receive, send)
            return
        plain = {**scope, "headers": [h for h in scope["headers"] if h[0] != b"accept-encoding"]}
        start, body = await _answer_of(self.app, plain, receive)
        headers = start.get("headers", [])
        if (
            start.get("status") != 200
            or _value(headers, b"content-encoding") is not None
            or _value(headers, b"set-cookie") is not None  # one visitor's, never handed on
            or len(body) > COMPONENT_FILE_BYTES
        ):
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        packed = await asyncio.to_thread(gzip.compress, body, 6, mtime=0)  # off the loop
        headers = [h for h in headers if h[0].lower() not in (b"content-length", b"vary")]
        if path not in self.components and self._component_bytes + len(packed) <= COMPONENT_BYTES:
            self.components[path] = (origin, headers, packed)
            self._component_bytes += len(packed)
        await _send_gzipped(send, headers, packed)

    def _read_scripts(self) -> None:
        """Gzip every script and style sheet ahead of the visitors (zlib lets go of the GIL)."""
        for path in list(self.files):
            if path.endswith((".js", ".css")) and path not in self.ready:
                try:
                    self._read(path)
                except OSError:  # a file gone from disk is read, or refused, when asked for
                    continue

    def _read(self, path: str) -> tuple[bytes, bytes, bool]:
        """The file's type and the bytes to send (gzipped where that makes them smaller)."""
        plain = self.files[path].read_bytes()
        guessed = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if guessed.startswith("text/") or guessed.endswith("javascript"):
            guessed += "; charset=utf-8"
        packed = gzip.compress(plain, compresslevel=6, mtime=0)
        smaller = len(packed) < 0.9 * len(plain)  # fonts and pictures are packed already
        self.ready[path] = entry = (guessed.encode(), packed if smaller else plain, smaller)
        return entry


def _value(headers, name: bytes) -> bytes | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _takes_gzip(scope) -> bool:
    return any(name == b"accept-encoding" and b"gzip" in value for name, value in scope["headers"])


async def _answer_of(app, scope, receive) -> tuple[dict, bytes]:
    """The start message and whole body of ``app``'s answer to ``scope``."""
    start: dict = {}
    chunks: list[bytes] = []

    async def keep(message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start, b"".join(chunks)


async def _send_gzipped(send, headers: list, packed: bytes) -> None:
    extra = [
        (b"content-length", str(len(packed)).encode()),
        (b"content-encoding", b"gzip"),
        (b"vary", b"Accept-Encoding"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers + extra})
    await send({"type": "http.response.body", "body": packed})


# Streamlit polls each config.toml (the project's and the user's, existing or not) five times a
# second for the whole life of the server, whatever server.fileWatcherType says: about half of
# what an idle server spends. A class server reads a changed config.toml within seconds instead.
CONFIG_POLL_SECONDS = 3.0


def slower_config_polling(seconds: float = CONFIG_POLL_SECONDS) -> bool:
    """Have Streamlit's polling file watchers look every ``seconds`` instead of every 0.2 s.

    Streamlit reads the period at each look, so this holds for watchers already running. It
    returns False, and changes nothing, on a Streamlit whose watcher no longer has that setting.
    """
    from streamlit.watcher import polling_path_watcher

    if not isinstance(getattr(polling_path_watcher, "_POLLING_PERIOD_SECS", None), float):
        return False
    polling_path_watcher._POLLING_PERIOD_SECS = float(seconds)
    return True


# Streamlit keeps a visitor's session for server.disconnectedSessionTTL after their tab closes,
# so a reload gets it back. The sessions that have outlived it are dropped only when another
# visitor leaves, so the last of a class to go stayed in memory, with their drawings and models
# (about 50 MB for a class of 30), until somebody else came and went. The server looks for them.
SESSION_SWEEP_SECONDS = 10.0


def forget_departed_sessions() -> int:
    """Shut down the kept sessions whose time has run out; how many there were.

    Streamlit would drop them at the next visitor's leaving, without shutting them down (their
    pictures stayed in its media store). Nothing happens on a Streamlit without that store.
    """
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return 0
    manager = getattr(Runtime.instance(), "_session_mgr", None)
    kept = getattr(getattr(manager, "_session_storage", None), "_cache", None)
    expire = getattr(kept, "expire", None)
    if not callable(expire):
        return 0
    lock = getattr(manager, "_storage_lock", None) or contextlib.nullcontext()
    with lock:
        departed = expire()
    for _session_id, info in departed:
        info.session.shutdown()
    return len(departed)


@contextlib.asynccontextmanager
async def sweeping_departed_sessions(_app) -> AsyncIterator[None]:
    """The app's lifespan: every few seconds, forget the sessions of visitors long gone."""
    sweeper = asyncio.create_task(_sweep())
    try:
        yield
    finally:
        sweeper.cancel()


async def _sweep() -> None:
    while True:
        await asyncio.sleep(SESSION_SWEEP_SECONDS)
        try:
            departed = forget_departed_sessions()
        except Exception:  # noqa: BLE001 - a failed sweep must never stop the server
            LOGGER.exception("Forgetting departed visitors' sessions failed; trying again later")
            continue
        if departed:
            LOGGER.info("Forgot %d session(s) of visitors who left", departed)
