"""Streamlit's own frontend files, as a class's browsers get them from `streamlit run app.py`.

Each new browser fetches about a hundred of them; app.py serves them from memory, gzipped once
(Streamlit itself reads them from disk on every request and never compresses them). The files
must arrive byte for byte as the installed Streamlit ships them, and nothing but those files
may ever be served that way.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser_helpers import streamlit_server
from conftest import ROOT


@pytest.fixture(scope="module")
def server():
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    with streamlit_server(environment, ROOT / "artifacts" / "server-serving.log") as running:
        yield running


def fetch(server, path: str, method: str = "GET", gzipped: bool = True):
    address = urlparse(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"Accept-Encoding": "gzip, deflate, br"} if gzipped else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def frontend_folder() -> Path:
    from streamlit import file_util

    return Path(file_util.get_static_dir())


def main_script(server) -> str:
    """The address of the frontend's main script, as the page a browser opens names it."""
    _, page = fetch(server, "/", gzipped=False)
    return re.search(rb'src="\.?(/static/js/index\.[^"]+\.js)"', page).group(1).decode()


def test_the_frontend_comes_gzipped_from_memory_exactly_as_streamlit_ships_it(server):
    script = main_script(server)
    on_disk = (frontend_folder() / script.lstrip("/")).read_bytes()
    for _ in range(2):  # the first request reads and packs the file, the second is from memory
        response, body = fetch(server, script)
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip"  # Streamlit's own path never is
        assert gzip.decompress(body) == on_disk
        assert len(body) < len(on_disk) / 2  # less to send over a school's network
        assert "immutable" in response.getheader("Cache-Control")  # fetched once per browser
        assert response.getheader("Content-Type").startswith(("text/javascript", "application/"))


def test_scripts_and_style_sheets_are_packed_before_any_visitor_asks(tmp_path):
    from mnistkit.ui.serving import FrontendFromMemory

    (tmp_path / "static" / "js").mkdir(parents=True)
    script = "const ink = 1;\n" * 2000
    (tmp_path / "static" / "js" / "index.abc.js").write_text(script)
    (tmp_path / "static" / "main.css").write_text("body { color: ink; }\n" * 500)
    (tmp_path / "static" / "logo.png").write_bytes(os.urandom(2000))
    frontend = FrontendFromMemory(app=None, directory=str(tmp_path), base_url="")
    deadline = time.monotonic() + 30
    while len(frontend.ready) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the packing runs in a thread of its own, as the server starts
    assert set(frontend.ready) == {"/static/js/index.abc.js", "/static/main.css"}  # no pictures
    content_type, body, packed = frontend.ready["/static/js/index.abc.js"]
    assert packed and gzip.decompress(body).decode() == script
    assert content_type.startswith(b"text/javascript")


def test_a_client_that_takes_no_gzip_gets_the_plain_file(server):
    script = main_script(server)
    response, body = fetch(server, script, gzipped=False)
    assert response.status == 200 and response.getheader("Content-Encoding") is None
    assert body == (frontend_folder() / script.lstrip("/")).read_bytes()


def test_head_answers_without_a_body(server):
    response, body = fetch(server, main_script(server), method="HEAD")
    assert response.status == 200 and body == b""


@pytest.mark.parametrize(
    "path",
    ["/static/../../../../app.py", "/static/js/%2e%2e/%2e%2e/index.html", "/static/js/none.js"],
)
def test_only_the_frontends_own_files_are_served_from_memory(server, path):
    response, body = fetch(server, path)
    assert response.getheader("Content-Encoding") != "gzip"  # not served from memory
    assert b"FrontendFromMemory" not in body and b"import streamlit" not in body


def test_the_server_parses_http_and_runs_its_loop_in_c(server):
    """httptools and uvloop are in the server process (uvicorn picks them when installed).

    Pure-Python HTTP parsing (h11) and asyncio's own loop cost a fresh visitor's browser about a
    third of the server's CPU; a class's server should not fall back to them unnoticed.
    """
    fetch(server, "/")  # at least one request parsed
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    mapped = {
        Path(line.split()[-1]).name.split(".")[0] for line in maps.splitlines() if ".so" in line
    }
    assert {"parser", "loop"} <= mapped, "httptools' parser or uvloop's loop is not in the server"
    assert "/httptools/" in maps and "/uvloop/" in maps


def test_a_changed_config_file_is_still_noticed_with_the_slower_polling(tmp_path):
    """Streamlit polls config.toml; mnistkit only slows the polling (an idle server's main cost),
    so a teacher's change to the file still reaches the running server, seconds later."""
    import threading

    from streamlit.watcher import polling_path_watcher

    from mnistkit.ui.serving import CONFIG_POLL_SECONDS, slower_config_polling

    before = polling_path_watcher._POLLING_PERIOD_SECS
    assert slower_config_polling(), "this Streamlit's watcher no longer has its polling period"
    try:
        assert polling_path_watcher._POLLING_PERIOD_SECS == CONFIG_POLL_SECONDS
        config = tmp_path / "config.toml"
        config.write_text('[theme]\nbase = "light"\n')
        changed = threading.Event()
        watcher = polling_path_watcher.PollingPathWatcher(
            str(config), lambda _path: changed.set(), allow_nonexistent=True
        )
        try:
            config.write_text('[theme]\nbase = "dark"\n')
            os.utime(config, (time.time() + 5, time.time() + 5))  # a coarse clock still sees it
            assert changed.wait(3 * CONFIG_POLL_SECONDS + 5), "the changed file was not noticed"
        finally:
            watcher.close()
    finally:
        polling_path_watcher._POLLING_PERIOD_SECS = before


@pytest.mark.browser
def test_the_sessions_of_visitors_who_left_are_shut_down_once_their_time_is_up(chromium):
    """Streamlit keeps a closed tab's session for disconnectedSessionTTL (for a reload), then
    drops it only when another visitor leaves: the last of a class to go stayed in memory for
    good. The server now shuts such sessions down itself, a few seconds after their time."""
    from browser_helpers import launch, wait_for_idle
    from playwright.sync_api import sync_playwright

    from mnistkit.ui.serving import SESSION_SWEEP_SECONDS

    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    log = ROOT / "artifacts" / "server-departed.log"
    ttl = ["--server.disconnectedSessionTTL", "2"]
    with streamlit_server(environment, log, options=ttl) as server, sync_playwright() as pw:
        browser = launch(pw, chromium)
        for _ in range(2):  # the second visitor leaves last: nobody comes after them
            page = browser.new_page()
            page.goto(f"{server.url}/draw")
            wait_for_idle(page, timeout=120_000)
            page.close()
        browser.close()
        deadline = time.monotonic() + 2 + 4 * SESSION_SWEEP_SECONDS + 30
        forgotten = 0
        while time.monotonic() < deadline and forgotten < 2:
            time.sleep(1)
            counts = re.findall(r"Forgot (\d+) session\(s\) of visitors who left", log.read_text())
            forgotten = sum(int(count) for count in counts)
        assert forgotten == 2, f"sessions shut down: {forgotten} of 2; the log:\n{log.read_text()}"
        assert "Traceback" not in log.read_text()


@pytest.mark.browser
def test_the_pens_script_is_gzipped_once_and_then_handed_out_from_memory(
    browser, sample, tmp_path_factory
):
    """The pen's 400 kB script comes through Streamlit's components route, which gzips every
    answer afresh; the server keeps the first, gzipped once, for the rest of a class."""
    from browser_helpers import CANVAS, open_page

    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    folder = tmp_path_factory.mktemp("ready-made-serving")
    persistence.save(train(RunConfig("scratch-linear", epochs=2), sample), folder / "linear")
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": str(folder)}
    log = ROOT / "artifacts" / "server-serving-pen.log"
    with streamlit_server(environment, log) as server:
        with open_page(browser, f"{server.url}/draw") as page:
            page.locator(CANVAS).first.wait_for()  # the pen's script has been fetched and runs
            fetched = page.evaluate(
                "() => performance.getEntriesByType('resource').map(e => e.name)"
                ".filter(n => n.includes('/_stcore/bidi-components/') && n.endsWith('.js'))"
            )
        assert fetched, "the page fetched no component script"
        path = urlparse(fetched[0]).path
        import importlib.util  # not imported: the pen registers itself with a running server

        package = Path(importlib.util.find_spec("streamlit_drawable_canvas").origin).parent
        on_disk = next(package.rglob(Path(path).name)).read_bytes()
        address = urlparse(server.url)

        def get(origin: str, encoding: str = "gzip"):
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
            connection.request("GET", path, headers={"Accept-Encoding": encoding, "Origin": origin})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            return response, body

        answers = [get(server.url), get(server.url), get("http://elsewhere.example")]
        for response, body in answers:
            assert response.status == 200
            assert response.getheader("Content-Encoding") == "gzip"
            assert gzip.decompress(body) == on_disk  # byte for byte the component's file
        (first, kept), (_, again), (_, streamlits) = answers
        # the copy kept: gzipped once at level 6 with no time stamp (Streamlit packs at level 9
        # with the time in it, each time)
        assert kept == again == gzip.compress(on_disk, compresslevel=6, mtime=0)
        assert streamlits != kept  # another origin is answered by Streamlit itself
        plain, body = get(server.url, encoding="identity")  # Streamlit's own answer, unpacked
        assert body == on_disk and plain.getheader("Content-Encoding") is None
        for header in ("Content-Type", "Cache-Control", "Access-Control-Allow-Origin"):
            assert first.getheader(header) == plain.getheader(header), header
        assert "Traceback" not in log.read_text()


def test_only_a_components_scripts_found_by_streamlit_are_kept(tmp_path):
    """What Streamlit refuses (a missing file, an unsafe path) is passed on as Streamlit said it,
    and kept for no one, as is an answer that sets a cookie; pages (.html) and other methods
    always go to Streamlit."""
    import asyncio
    import concurrent.futures

    from mnistkit.ui.serving import FrontendFromMemory

    (tmp_path / "static").mkdir()
    asked: list[str] = []

    async def streamlit(scope, receive, send):  # Streamlit's components route, in small
        asked.append(scope["path"])
        found = scope["path"].endswith(("/pen/index.js", "/pen/cookie.js"))
        body = b"const pen = 1;\n" * 400 if found else b"not found"
        headers = [(b"content-type", b"text/javascript"), (b"cache-control", b"public")]
        if scope["path"].endswith("/pen/cookie.js"):  # an answer with this visitor's cookie
            headers.append((b"set-cookie", f"visitor={len(asked)}".encode()))
        await send({"type": "http.response.start", "status": 200 if found else 404,
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    frontend = FrontendFromMemory(app=streamlit, directory=str(tmp_path), base_url="")

    def get(path: str, method: str = "GET") -> tuple[int, bytes]:
        answer: list = []

        async def send(message):
            answer.append(message)

        scope = {"type": "http", "method": method, "path": path,
                 "headers": [(b"accept-encoding", b"gzip")]}  # fmt: skip
        # in a thread of its own: a browser test before may leave this one's loop running
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, frontend(scope, None, send)).result()
        return answer[0]["status"], b"".join(m.get("body", b"") for m in answer[1:])

    route = "/_stcore/bidi-components"
    for _ in range(2):
        status, body = get(f"{route}/pen/index.js")
        assert status == 200 and gzip.decompress(body) == b"const pen = 1;\n" * 400
        assert get(f"{route}/pen/missing.js") == (404, b"not found")
        assert get(f"{route}/pen/index.html")[0] == 404
        assert get(f"{route}/pen/index.js", method="HEAD")[0] == 200
        status, body = get(f"{route}/pen/cookie.js")
        assert status == 200 and b"pen" in body
    assert asked.count(f"{route}/pen/index.js") == 3  # once for GET, then HEADs only
    assert asked.count(f"{route}/pen/cookie.js") == 2  # a cookie is one visitor's: not kept
    assert asked.count(f"{route}/pen/missing.js") == 2  # a refusal is never kept
    assert list(frontend.components) == [f"{route}/pen/index.js"]
