"""A real HTTP server per test: uvicorn on a free loopback port in a thread, over a fresh database.

The clock is virtual (tests move it), the engine is off (the escalator pages layer 1 inside the create
transaction, which is all these tests need); process-level tests start ``oncall serve`` instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from console.api import create_app
from engine.clock import VirtualClock
from engine.runtime.operator_config import OperatorConfig
from engine.service import Ctx
from engine.service.orgs import create_org
from storage.db import open_db
from tests.conftest import T0, fresh_copy
from tests.helpers import oncall_in_process


@dataclass
class Live:
    url: str
    key: str
    admin_id: str
    org_id: str
    clock: VirtualClock
    db_path: Path | str
    client: httpx.Client

    def as_key(self, key: str | None) -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def ctx(self) -> Ctx:
        """A service context on the same database, as the machine's operator (the CLI's context): for
        setting up what the API cannot, e.g. a 2nd org or a command contact method."""
        return Ctx(
            db=open_db(self.db_path),
            org_id=self.org_id,
            actor_id=self.admin_id,
            actor_user_id=self.admin_id,
            clock=self.clock,
            via="operator",
        )


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@pytest.fixture
def operator_config(request: pytest.FixtureRequest) -> OperatorConfig:
    """The server's operator configuration: none unless a test parametrizes it (``indirect=True``)."""
    return getattr(request, "param", None) or OperatorConfig()


@pytest.fixture
def live(
    tmp_path: Path, operator_config: OperatorConfig, migrated_template: Path, db_path: Path | str
) -> Iterator[Live]:
    clock = VirtualClock(T0)
    fresh_copy(db_path, migrated_template)  # tests/conftest.py: a migrated empty database
    db = open_db(db_path)
    init = create_org(db, "Acme", "admin@example.com", first_name="Ada", last_name="Admin", clock=clock)
    db.close()
    app = create_app(db_path, clock, engine=False, config=operator_config)
    server = _ThreadServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False)
    )
    started = threading.Event()
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert started.wait(10), "the API server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {init.api_key}"}, timeout=10)
    try:
        yield Live(url, init.api_key, init.admin["id"], init.org["id"], clock, db_path, client)
    finally:
        client.close()
        server.should_exit = True
        thread.join(10)


# -- a real `oncall serve` process --------------------------------------------------------------------


@dataclass
class ServeProcess:
    url: str
    key: str
    admin_id: str
    proc: subprocess.Popen[str]
    banner: list[str]


def oncall(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_oncall_bin(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _oncall_bin() -> str:
    candidate = Path(sys.executable).with_name("oncall")
    return str(candidate) if candidate.exists() else "oncall"


def start_serve(db_path: Path, *extra: str, init: bool = True) -> ServeProcess:
    """``oncall init`` (unless ``init=False``; in this process) then ``oncall serve --port 0`` (a process); returns once the server has
    printed its three banner lines (URL, database, engine mode)."""
    import json

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("ONCALL_DB", None)
    info = {"apiKey": "", "admin": {"id": ""}}
    if init:
        done = oncall_in_process(["--db", str(db_path), "init", "--org", "Acme", "--admin-email",
                                  "admin@example.com", "--first-name", "Ada", "--json"],
                                 env={"ONCALL_DB": None})  # fmt: skip
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
    proc = subprocess.Popen(
        [_oncall_bin(), "serve", "--db", str(db_path), "--port", "0", "--no-access-log", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    banner: list[str] = []
    url = None
    assert proc.stdout is not None
    while len(banner) < 3:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"oncall serve exited early: {banner} {err}")
        banner.append(line.rstrip("\n"))
        m = re.search(r"(http://127\.0\.0\.1:\d+)/v1 ", line)
        if m:
            url = m.group(1)
    assert url is not None, banner
    return ServeProcess(url, info["apiKey"], info["admin"]["id"], proc, banner)


def stop_serve(server: ServeProcess) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)
