"""Sync test harness: a second ``oncall serve`` process with its own database plays Scaling.

* :class:`Remote` runs ``oncall --db REMOTE.db serve`` on a loopback port (the organisation comes from
  ``oncall init --json``); ``stop()``/``start()`` take it down and bring it back on the same port.
* :class:`FaultProxy` sits between the client and the remote when a test needs the network to misbehave:
  answer 429 with ``Retry-After``, forward a request and then drop the connection (and stop the remote)
  before the answer gets back, drop a request without forwarding it, or hold one until released.
* Every test gets its own credentials file and no keyring, and ``SCALING_API_KEY`` unset.

Only the network edge is faked, and only in the proxy: the client, the outbox and the pull are real.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.clock import WallClock
from engine.service import Ctx
from engine.service.orgs import create_org
from storage.db import Database, open_db
from tests.helpers import run_oncall

ONCALL = str(Path(sys.executable).with_name("oncall"))


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "credentials.json"
    monkeypatch.setenv("ONCALL_CREDENTIALS", str(path))
    monkeypatch.setenv("ONCALL_KEYRING", "0")
    monkeypatch.delenv("SCALING_API_KEY", raising=False)
    monkeypatch.delenv("ONCALL_DB", raising=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oncall(
    db: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``oncall --db DB ARGS…`` in this process (:func:`tests.helpers.run_oncall`), success or not."""
    return run_oncall(db, *args, ok=False, input=input, env=env)


@dataclass
class Remote:
    db_path: Path
    key: str
    org_id: str
    admin_id: str
    port: int
    log_path: Path
    proc: subprocess.Popen[str] | None = None
    _db: Database | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None
        log = open(self.log_path, "a")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [ONCALL, "--db", str(self.db_path), "serve", "--port", str(self.port), "--no-engine"],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 60  # when to give up: a loaded machine starts Python slowly
        while time.monotonic() < deadline:
            try:
                r = httpx.get(
                    f"{self.url}/v1/users", headers={"Authorization": f"Bearer {self.key}"}, timeout=1
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"oncall serve exited: {self.log_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError("oncall serve did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db

    def ctx(self) -> Ctx:
        return Ctx(
            db=self.db,
            org_id=self.org_id,
            actor_id=self.admin_id,
            actor_user_id=self.admin_id,
            clock=WallClock(),
        )

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        with self.http() as c:
            r = c.get(path, params=params)
            r.raise_for_status()
            return r.json()["data"]


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    db_path = tmp_path / "remote.db"
    done = oncall(db_path, "init", "--org", "Scaling Org", "--admin-email", "admin@scaling.test",
                  "--first-name", "Rita", "--last-name", "Remote", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    r = Remote(
        db_path=db_path,
        key=info["apiKey"],
        org_id=info["org"]["id"],
        admin_id=info["admin"]["id"],
        port=free_port(),
        log_path=tmp_path / "remote.log",
    )
    r.start()
    try:
        yield r
    finally:
        r.stop()
        if r._db is not None:
            r._db.close()


@dataclass
class LocalSide:
    db_path: Path | str
    db: Database
    org_id: str
    admin_id: str
    clock: WallClock

    def ctx(self) -> Ctx:
        return Ctx(db=self.db, org_id=self.org_id, actor_id=self.admin_id, actor_user_id=self.admin_id,
                   clock=self.clock)  # fmt: skip


@pytest.fixture
def local(db_path: Path | str) -> Iterator[LocalSide]:
    """The local side: the test's database (a SQLite file, or PostgreSQL for the ``[postgresql]`` runs)."""
    db = open_db(db_path)
    clock = WallClock()
    init = create_org(db, "Mine", "me@local.test", first_name="Me", clock=clock)
    yield LocalSide(db_path, db, init.org["id"], init.admin["id"], clock)
    db.close()


# -- a proxy with fault switches -------------------------------------------------------------------


@dataclass
class Fault:
    """What to do with the next request that matches ``method``/``path_contains``."""

    method: str | None = None
    path_contains: str = ""
    status: int | None = None  # answer this instead of forwarding
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    drop_after_forward: bool = False  # forward, then close the connection without answering
    drop_before_forward: bool = False  # read the request, run ``then``, close without forwarding it
    stall: threading.Event | None = None  # hold the request (``stalled`` is set) until this is set, then drop
    then: Callable[[], None] | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path_contains in path


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status or -1 for dropped)
        self.headers_seen: list[dict[str, str]] = []
        self.stalled = threading.Event()  # a request is being held by a ``stall`` fault
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.headers_seen.append(dict(self.headers))
                    fault = next((f for f in proxy.faults if f.matches(self.command, self.path)), None)
                    if fault is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            proxy.faults.remove(fault)
                if fault is not None and (fault.drop_before_forward or fault.stall is not None):
                    if fault.stall is not None:
                        proxy.stalled.set()
                        fault.stall.wait(60)
                    proxy.seen.append((self.command, self.path, -1))
                    if fault.then is not None:
                        fault.then()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.status is not None:
                    payload = json.dumps(fault.body or {}).encode()
                    self.send_response(fault.status)
                    for k, v in fault.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    proxy.seen.append((self.command, self.path, fault.status))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                try:
                    r = httpx.request(self.command, proxy.upstream + self.path, headers=headers, content=body,
                                      timeout=10)  # fmt: skip
                except httpx.HTTPError:
                    proxy.seen.append((self.command, self.path, 502))
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault is not None and fault.drop_after_forward:
                    proxy.seen.append((self.command, self.path, -1))
                    if fault.then is not None:
                        fault.then()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                proxy.seen.append((self.command, self.path, r.status_code))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def writes(self) -> list[tuple[str, str, int]]:
        return [s for s in self.seen if s[0] != "GET"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(remote: Remote) -> Iterator[FaultProxy]:
    p = FaultProxy(remote.url)
    yield p
    p.close()
