"""``oncall web`` in a real headless Chromium: the page loads, the console's incident table shows the demo
incidents, a key pressed in the page acknowledges one, and the database agrees.

The page draws the terminal on a canvas (xterm.js), so the test reads what the console sent instead: a
script installed before the page's own records every byte the WebSocket brings, and :class:`Screen`
replays them (cursor moves and text; colours ignored) into rows of text. A screenshot of the page is saved
under the test's temporary folder and its path printed.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped only when they are
missing outside CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cli.web import console_command, same_origin
from tests.helpers import ONCALL, run_oncall

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"

needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"), reason=MISSING
)

# Installed before the page's scripts: every message the console's WebSocket receives, as text.
RECORD_WEBSOCKET = """
window.__oncallOutput = "";
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (event) => {
      if (event.data instanceof ArrayBuffer) {
        window.__oncallOutput += decoder.decode(new Uint8Array(event.data), {stream: true});
      }
    });
    return ws;
  }
  Recorded.prototype = Native.prototype;
  Object.assign(Recorded, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Recorded;
})();
"""

_CONTROL = re.compile(
    r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)"
)


class Screen:
    """The terminal's text, replayed from the bytes sent to it: cursor positioning (``CSI row;col H``),
    line feeds and printable text; styles and modes are ignored. Enough for Textual's output, which
    places every changed line with an absolute cursor move."""

    def __init__(self, width: int = 300, height: int = 100) -> None:
        self.rows = [[" "] * width for _ in range(height)]
        self.y = self.x = 0

    def feed(self, data: str) -> None:
        pos = 0
        for match in _CONTROL.finditer(data):
            self._text(data[pos : match.start()])
            pos = match.end()
            if match.group(2) == "H":
                parts = [int(p) if p.isdigit() else 1 for p in (match.group(1) or "1;1").split(";")]
                self.y, self.x = parts[0] - 1, (parts[1] if len(parts) > 1 else 1) - 1
            elif match.group(2) == "J" and match.group(1) in ("2", "3"):
                self.rows = [[" "] * len(row) for row in self.rows]
        self._text(data[pos:])

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\n":
                self.y += 1
            elif ch == "\r":
                self.x = 0
            elif ch >= " " and 0 <= self.y < len(self.rows) and 0 <= self.x < len(self.rows[0]):
                self.rows[self.y][self.x] = ch
                self.x += 1

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.rows]


def _screen(driver: Any) -> list[str]:
    screen = Screen()
    screen.feed(driver.execute_script("return window.__oncallOutput"))
    return screen.lines()


def _wait(condition: Any, *, timeout: float = 60, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy (no fixed pause: it returns at once then)."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "demo.db"
    run_oncall(db, "demo", "--no-console")
    return db


@pytest.fixture
def web_server(demo_db: Path) -> Iterator[str]:
    """A real ``oncall web`` process on a free loopback port; yields its URL. Its process group (the
    server and the console each browser tab started) is ended afterwards."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen(
        [ONCALL, "--db", str(demo_db), "web", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)/", first)
        assert match, (first, proc.stderr.read() if proc.poll() is not None else "")
        yield match.group(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail(f"{MISSING}; CI must run this test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--window-size=1280,800",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_WEBSOCKET})
        yield driver
    finally:
        driver.quit()


def _incidents(db: Path) -> dict[int, dict[str, Any]]:
    out = run_oncall(db, "incidents", "--json").stdout
    return {i["sequentialId"]: i for i in json.loads(out)}


@pytest.mark.slow
@needs_browser
def test_the_console_in_a_browser_acknowledges_and_the_database_agrees(
    demo_db: Path, web_server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    before = _incidents(demo_db)
    open_unacked = {n: i for n, i in before.items() if i["status"] != "resolved" and not i["acknowledgedBy"]}
    assert len(open_unacked) >= 2  # the demo's

    browser.get(web_server + "/")
    # The incident table: its header and every open demo incident's title.
    titles = [i["title"][:20] for i in before.values() if i["status"] != "resolved"]
    lines = _wait(
        lambda: (s := _screen(browser)) and all(any(t in line for line in s) for t in titles) and s,
        what="the demo incidents in the page's incident table",
    )
    assert any("Escalates" in line for line in lines), "\n".join(lines)

    # Keys go to xterm.js's input element, as a person's typing does.
    browser.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea").send_keys("a")

    def newly_acknowledged() -> list[int]:
        now = _incidents(demo_db)
        return [n for n in open_unacked if now[n]["acknowledgedBy"]]

    acked = _wait(newly_acknowledged, what="the acknowledgement in the database")
    assert len(acked) == 1
    number = acked[0]
    lines = _wait(
        lambda: (s := _screen(browser)) and any(f"#{number} acknowledged" in line for line in s) and s,
        what="the console's confirmation in the page",
    )
    shot = tmp_path / "oncall-web.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 1000
    # The one acknowledged is the incident the cursor starts on: the table's first row.
    first_row = next(line for line in lines if any(i["title"][:20] in line for i in before.values()))
    assert before[number]["title"][:20] in first_row, "\n".join(lines)


def test_a_remote_host_needs_allow_remote(demo_db: Path) -> None:
    proc = run_oncall(demo_db, "web", "--host", "0.0.0.0", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: 0.0.0.0 is not a loopback address: pass --allow-remote to expose the console to other machines"
    )


def test_each_browser_session_runs_the_console_with_the_same_options(demo_db: Path) -> None:
    from console.cli.main import State

    state = State(demo_db, "Acme Platform", None, identity="bob@example.com")
    command = console_command(state)
    assert command.endswith(f"-m console --db {demo_db.resolve()} --org 'Acme Platform' --as bob@example.com")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),  # the Host header the browser used
        ("http://evil.example", False),
        ("http://127.0.0.1:9999", False),
        ("null", False),
    ],
)
def test_only_this_servers_pages_may_open_the_console_websocket(origin: str | None, allowed: bool) -> None:
    assert (
        same_origin(
            origin,
            "http://127.0.0.1:8000",
            "localhost:8000" if origin and "localhost" in origin else "127.0.0.1:8000",
        )
        is allowed
    )


def test_a_page_from_elsewhere_cannot_open_the_console(web_server: str) -> None:
    """A WebSocket upgrade from another site's page is refused before any console starts; the page's
    own origin is upgraded (101)."""
    import httpx

    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with httpx.Client(trust_env=False, timeout=10) as client:
        page = client.get(web_server + "/")
        assert page.status_code == 200
        assert f'data-session-websocket-url="ws{web_server[4:]}/ws"' in page.text
        refused = client.get(web_server + "/ws", headers={**upgrade, "Origin": "http://evil.example"})
        assert refused.status_code == 403
        with client.stream("GET", web_server + "/ws", headers={**upgrade, "Origin": web_server}) as ok:
            assert ok.status_code == 101
