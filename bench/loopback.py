"""What ``bench/api.py`` and ``bench/ingest.py`` share: seeding, starting servers, and a cheap load generator.

* :func:`seed_incidents` and :func:`seed_ingest` build the databases (through the service layer);
* :func:`start_server` starts a real ``oncall serve`` (or any command printing ``http://127.0.0.1:PORT/v1``
  on stdout, as ``bench/api_floor.py`` does), optionally pinned to CPUs with ``taskset``;
* :func:`drive` sends requests from client *processes* (optionally pinned) over keep-alive HTTP/1.1
  connections written and read by hand on asyncio streams: a request costs the client ~30 µs of CPU where
  httpx's async client cost ~1 ms, so the load generator is not what is measured. Each request's send
  instant, latency, status and body come back, with the CPU time the client processes used.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEVERITIES = ("critical", "high", "medium", "low")


# -- seeding --------------------------------------------------------------------------------------------


def seed_incidents(db_path: Path, count: int) -> str:
    """An organisation and ``count`` incidents (one a minute, through the service); returns the API key."""
    from engine.clock import VirtualClock
    from engine.service import Ctx
    from engine.service.incidents import create_incident
    from engine.service.orgs import create_org
    from storage.db import open_db

    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    db = open_db(db_path)
    init = create_org(db, "Bench", "bench@example.com", clock=clock)
    ctx = Ctx(
        db=db, org_id=init.org["id"], actor_id=init.admin["id"], actor_user_id=init.admin["id"], clock=clock
    )
    with db.write():
        for i in range(count):
            create_incident(
                ctx, {"title": f"Incident {i}", "severity": SEVERITIES[i % 4], "description": "seeded"}
            )
            clock.advance(timedelta(minutes=1))
    db.close()
    return init.api_key


def seed_ingest(db_path: Path, webhook: str) -> dict[str, str]:
    """An organisation, a person paged through a webhook contact method at ``webhook``, a policy whose
    layer 1 pages them, and an ``events`` and an ``alertmanager`` integration on it; returns
    ``{kind: receive path}``."""
    from engine.clock import WallClock
    from engine.service import Ctx, contacts, integrations, policies
    from engine.service.orgs import create_org
    from storage.db import open_db

    clock = WallClock()
    db = open_db(db_path)
    init = create_org(db, "Bench", "bench@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock, via="operator")
    contacts.add_contact_method(ctx, admin, {"channel": "webhook", "address": webhook})
    pol = policies.create_policy(ctx, {"name": "Bench"})
    layer = {"position": 1, "ackTimeoutMinutes": 30, "target": {"type": "users", "userIds": [admin]}}
    policies.add_layer(ctx, pol["id"], layer)
    paths = {}
    for kind in ("events", "alertmanager"):
        made = integrations.create_integration(
            ctx, {"name": kind, "kind": kind, "escalationPolicyId": pol["id"]}
        )
        paths[kind] = made["receivePath"]
    db.close()
    return paths


# -- servers --------------------------------------------------------------------------------------------


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    """``cmd`` run under ``taskset -c cpus`` (when given and taskset exists)."""
    if cpus is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", cpus, *cmd]


def oncall_serve_command(db_path: Path) -> list[str]:
    oncall = Path(sys.executable).with_name("oncall")
    return [str(oncall) if oncall.exists() else "oncall", "serve", "--db", str(db_path), "--port", "0",
            "--no-access-log"]  # fmt: skip


def from_tree(cmd: list[str], serve_from: str | None, plain_http: bool) -> tuple[list[str], dict[str, str]]:
    """``oncall …`` run from the source tree ``serve_from`` (e.g. ``git archive main`` unpacked: a
    before/after) and, with ``plain_http``, without httptools and uvloop (uvicorn then takes h11 and
    asyncio's loop, as before they were dependencies). Returns the command and its extra environment."""
    if serve_from is None and not plain_http:
        return cmd, {}
    hide = "sys.modules['httptools'] = sys.modules['uvloop'] = None; " if plain_http else ""
    code = (
        f"import sys; {hide}sys.argv = ['oncall'] + sys.argv[1:]; from console.cli.main import main; main()"
    )
    # -P: no current directory at the front of sys.path, which would put the tree the bench is run from
    # (this one) ahead of ``serve_from`` whenever the bench runs from a source tree's root.
    return [sys.executable, "-P", "-c", code, *cmd[1:]], ({"PYTHONPATH": serve_from} if serve_from else {})


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_server(
    cmd: list[str], *, cpus: str | None = None, env: dict[str, str] | None = None, quiet: bool = False
) -> Server:
    """Start ``cmd`` (pinned to ``cpus``) and wait for the ``http://127.0.0.1:PORT/v1`` line it prints."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(pinned(cmd, cpus), stdout=subprocess.PIPE, text=True, env=full_env)
    assert proc.stdout is not None
    url = None
    for _ in range(3):
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/v1\b", line)
        if not quiet:
            print("  server:", line.rstrip())
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        raise SystemExit(f"{cmd[0]} did not print its address; see its output above")
    server = Server(proc, url)
    deadline = time.monotonic() + 30
    while True:  # the address may be printed before the socket listens (bench/api_floor.py)
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                server.stop()
                raise SystemExit(f"{cmd[0]} does not accept connections at {url}") from None
            time.sleep(0.05)


# -- the load generator ---------------------------------------------------------------------------------


def raw_request(
    method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 keep-alive request, as bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class Load:
    """What :func:`drive` measured: per request ``(tag, send epoch s, latency s, status)``, the bodies of
    answers that were not ``ok_status`` (first few), the wall time, and the client processes' CPU time."""

    results: list[tuple[int, float, float, int]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    client_cpu: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return [r[2] for r in self.results]

    @property
    def rate(self) -> float:
        return len(self.results) / self.elapsed if self.elapsed else 0.0


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


def _client_process(
    port: int, requests: Sequence[tuple[int, bytes]] | None, repeat: bytes | None, connections: int,
    start: float, stop: float, ok_status: int,
) -> tuple[list[tuple[int, float, float, int]], list[str], float, float]:  # fmt: skip
    """One client process: ``connections`` keep-alive connections sending ``requests`` (each once, shared)
    or ``repeat`` (again and again until ``stop``), from epoch ``start``."""
    cpu0 = time.process_time()

    async def main() -> tuple[list[tuple[int, float, float, int]], list[str], float]:
        results: list[tuple[int, float, float, int]] = []
        refusals: list[str] = []
        pending = list(reversed(requests)) if requests is not None else None

        async def connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(max(0.0, start - time.time()))
            try:
                while True:
                    if pending is not None:
                        if not pending:
                            return
                        tag, raw = pending.pop()
                    else:
                        if time.time() >= stop:
                            return
                        tag, raw = 0, repeat or b""
                    sent = time.time()
                    t0 = time.perf_counter()
                    status, body = await _exchange(reader, writer, raw)
                    results.append((tag, sent, time.perf_counter() - t0, status))
                    if status != ok_status and len(refusals) < 5:
                        refusals.append(f"{status} {body[:300]!r}")
            finally:
                writer.close()

        await asyncio.gather(*(connection() for _ in range(connections)))
        return results, refusals, time.time()

    results, refusals, ended = asyncio.run(main())
    return results, refusals, ended, time.process_time() - cpu0


def drive(
    port: int,
    *,
    requests: Sequence[tuple[int, bytes]] | None = None,
    repeat: bytes | None = None,
    duration: float = 3.0,
    connections: int = 32,
    procs: int = 2,
    cpus: str | None = None,
    ok_status: int = 200,
) -> Load:
    """Send ``requests`` (``(tag, raw request)``, each once, spread over the processes) or ``repeat`` for
    ``duration`` seconds, over ``connections`` keep-alive connections in ``procs`` client processes
    (pinned to ``cpus``: ``os.sched_setaffinity`` in each). Returns the :class:`Load`."""
    procs = max(1, min(procs, connections))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    shares: list[Sequence[tuple[int, bytes]] | None] = [None] * procs
    if requests is not None:
        shares = [list(requests[i::procs]) for i in range(procs)]
    start = time.time() + 0.5  # every process connected first
    stop = start + duration
    load = Load()
    with ProcessPoolExecutor(procs, initializer=_pin, initargs=(cpus,)) as pool:
        futures = [
            pool.submit(_client_process, port, shares[i], repeat, per[i], start, stop, ok_status)
            for i in range(procs)
        ]
        ended = start
        for f in futures:
            results, refusals, end, cpu = f.result()
            load.results += results
            load.refusals += refusals
            load.client_cpu += cpu
            ended = max(ended, end)
    load.elapsed = ended - start
    return load


def _pin(cpus: str | None) -> None:
    if cpus is not None and hasattr(os, "sched_setaffinity"):
        wanted = {int(c) for c in cpus.split(",")}
        os.sched_setaffinity(0, wanted & os.sched_getaffinity(0) or os.sched_getaffinity(0))


def cpu_split() -> tuple[str | None, str | None]:
    """(server CPUs, client CPUs): separate cores when there are at least two, else no pinning."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None, None
    return str(cpus[0]), ",".join(str(c) for c in cpus[1:])


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
