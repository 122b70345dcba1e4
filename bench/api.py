"""Benchmark of the local HTTP API against its floor: ``python bench/api.py [--rounds 3] [--duration 3]``.

Seeds a database with 10,000 incidents and copies it, starts a real ``oncall serve`` (engine embedded) on
one copy and the floor (``bench/api_floor.py``: bare Starlette + uvicorn serving the same SQL and the same
JSON) on the other, the servers pinned to one core and the client processes to the others (``taskset``),
then alternates them (:class:`bench.harness.Compare`, at least 3 rounds) on ``GET /v1/incidents?limit=100``
and ``POST /v1/incidents`` from ``--connections`` keep-alive connections (``bench/loopback.py``'s
hand-written client: ~30 µs of client CPU a request). Prints requests/s (min, median), p50/p99, the client
CPU and the server CPU per request (the server's own CPU time over the round, all its threads: what the
machine's load moves least, so the figure to compare when other processes share the servers' core), and
the ratio oncall/floor with issue 17's target (≥ 0.9). Checks that both servers answer the list with the
same bytes and prints how each frames it (head size, Content-Length or chunked). Then, unless
``--no-in-process``, both apps once more without sockets or a client: called as ASGI apps in this process
pinned to the servers' core, 32 requests in flight, CPU time per request (:func:`asgi_cpu`: the figure a
loaded machine moves least). Asserts nothing about timing. ``--serve-from DIR --plain-http`` runs
``oncall serve`` from another source tree (e.g. ``git archive main``) as it was, for a before/after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # api_floor, for the in-process comparison

from bench.harness import Compare, percentile  # noqa: E402
from bench.loopback import (  # noqa: E402
    Server,
    cpu_split,
    drive,
    dumps,
    from_tree,
    oncall_serve_command,
    raw_request,
    seed_incidents,
    start_server,
)

TARGET = 0.9


def _fetch(server: Server, raw: bytes) -> tuple[bytes, bytes]:
    """One exchange on a fresh connection: the answer's head and body, as sent."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(raw.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, body = b"".join(chunks).split(b"\r\n\r\n", 1)
    return head, body


def _framing(head: bytes, body: bytes) -> str:
    lines = head.lower().split(b"\r\n")
    framing = "chunked" if b"transfer-encoding: chunked" in lines else "Content-Length"
    return f"{len(head) + 4} head bytes + {len(body):,} body bytes, {framing}"


def server_cpu(pid: int) -> float:
    """The CPU seconds (user + system) the process ``pid`` has used so far, all its threads (Linux
    ``/proc``; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def asgi_cpu(
    db: Path, floor_db: Path, key: str, *, rounds: int, cpus: str | None, requests: int = 1024
) -> None:
    """The list's server-side CPU without sockets or a client: both apps called as ASGI apps in this
    process (pinned to ``cpus``, the servers' core), ``requests`` ``GET /v1/incidents?limit=100`` a round
    from 32 concurrent callers; CPU time (every thread) per request. What the machine's load moves least:
    no client to starve, the same 32 requests in flight in both apps, whatever the scheduler gives them."""
    import asyncio

    import api_floor

    from console.api import create_app
    from engine.clock import WallClock

    apps = {"oncall": create_app(db, WallClock(), engine=False), "floor": api_floor.create_app(str(floor_db))}
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())]

    def scope() -> dict[str, Any]:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": "/v1/incidents", "raw_path": b"/v1/incidents",
                "query_string": b"limit=100", "root_path": "", "headers": list(headers),
                "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def run(app: Any) -> list[bytes]:
        bodies: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message["body"])

        async def caller() -> None:
            for _ in range(requests // 32):
                await app(scope(), receive, send)

        await asyncio.gather(*(caller() for _ in range(32)))
        return bodies

    async def main() -> None:
        cpu = Compare("GET /v1/incidents?limit=100 in process (ASGI, no sockets): CPU per request", unit="µs",
                      higher_is_better=False)  # fmt: skip
        lifespans = [app.router.lifespan_context(app) for app in apps.values()]
        for lifespan in lifespans:
            await lifespan.__aenter__()
        try:
            for _ in cpu.rounds(rounds):
                for name in ("floor", "oncall"):
                    t0 = time.process_time()
                    bodies = await run(apps[name])
                    used = time.process_time() - t0
                    if len(set(bodies)) != 1:
                        raise SystemExit(f"{name} answered the list with different bodies in process")
                    cpu.add(name, used / len(bodies) * 1e6)
        finally:
            for lifespan in lifespans:
                await lifespan.__aexit__(None, None, None)
        cpu.report(workload="oncall", baseline="floor")

    pinned_before = os.sched_getaffinity(0) if cpus and hasattr(os, "sched_setaffinity") else None
    if pinned_before is not None:
        os.sched_setaffinity(0, {int(c) for c in str(cpus).split(",")})
    try:
        asyncio.run(main())
    finally:
        if pinned_before is not None:
            os.sched_setaffinity(0, pinned_before)


def renice(pid: int, nice: int) -> None:
    """Set the nice value of every thread of ``pid`` (threads started later inherit their creator's)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.setpriority(os.PRIO_PROCESS, int(task), nice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--procs", type=int, default=2, help="client processes sharing the connections")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-from", help="run oncall serve from this source tree (a before/after)")
    parser.add_argument("--plain-http", action="store_true", help="oncall serve without httptools and uvloop")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process (ASGI) comparison")
    parser.add_argument(
        "--server-nice",
        type=int,
        help="renice both servers (every thread) to this value, e.g. -10 as root: on a loaded machine the "
        "servers' core then behaves more like an idle one (the floor's 32 pool threads otherwise get more "
        "of the shared core than oncall's event loop)",
    )
    args = parser.parse_args()
    server_cpus, client_cpus = cpu_split()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ours_db, floor_db = Path(tmp) / "oncall.db", Path(tmp) / "floor.db"
        key = seed_incidents(ours_db, args.incidents)
        shutil.copy(ours_db, floor_db)
        if not args.no_in_process:  # on copies of their own, before the servers start
            asgi_db, asgi_floor_db = Path(tmp) / "asgi.db", Path(tmp) / "asgi-floor.db"
            shutil.copy(ours_db, asgi_db)
            shutil.copy(ours_db, asgi_floor_db)
        print(f"seeded {args.incidents} incidents in {time.perf_counter() - t0:.1f} s")
        auth = {"Authorization": f"Bearer {key}"}
        get = raw_request("GET", "/v1/incidents?limit=100", headers=auth)
        post = raw_request(
            "POST", "/v1/incidents", dumps({"title": "Bench incident", "severity": "high"}), auth
        )
        floor_cmd = [sys.executable, str(Path(__file__).with_name("api_floor.py")), str(floor_db)]
        ours_cmd, ours_env = from_tree(oncall_serve_command(ours_db), args.serve_from, args.plain_http)
        servers = {
            "oncall": start_server(ours_cmd, cpus=server_cpus, env=ours_env),
            "floor": start_server(floor_cmd, cpus=server_cpus),
        }
        if args.server_nice is not None:
            for server in servers.values():
                renice(server.proc.pid, args.server_nice)
        try:
            print(
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; servers on CPU {server_cpus}, "
                f"{args.procs} client processes on CPU {client_cpus}; {args.connections} connections"
                + ("" if args.server_nice is None else f"; servers at nice {args.server_nice}")
            )
            answers = {name: _fetch(server, get) for name, server in servers.items()}
            same = answers["oncall"][1] == answers["floor"][1]
            print(f"  the list's answer bytes are {'identical' if same else 'DIFFERENT'} on both servers")
            for name, (head, body) in answers.items():
                print(f"  {name}: {_framing(head, body)}")
            for name, raw, ok in (
                ("GET /v1/incidents?limit=100", get, 200),
                ("POST /v1/incidents", post, 201),
            ):
                rate = Compare(f"{name}: requests per second", unit="req/s")
                p99 = Compare(f"{name}: p99 latency", unit="ms", higher_is_better=False)
                cpu = Compare(f"{name}: client CPU per request", unit="µs", higher_is_better=False)
                work = Compare(f"{name}: server CPU per request", unit="µs", higher_is_better=False)
                for _ in rate.rounds(args.rounds):
                    for variant in ("floor", "oncall"):
                        before = server_cpu(servers[variant].proc.pid)
                        load = drive(servers[variant].port, repeat=raw, duration=args.duration,
                                     connections=args.connections, procs=args.procs, cpus=client_cpus,
                                     ok_status=ok)  # fmt: skip
                        if load.refusals:
                            raise SystemExit(f"{variant} refused {name}: {load.refusals[0]}")
                        rate.add(variant, load.rate)
                        p99.add(variant, percentile(load.latencies, 99) * 1000)
                        cpu.add(variant, load.client_cpu / max(1, len(load.results)) * 1e6)
                        used = server_cpu(servers[variant].proc.pid) - before
                        work.add(variant, used / max(1, len(load.results)) * 1e6)
                rate.report(workload="oncall", baseline="floor", target=TARGET)
                p99.report(workload="oncall", baseline="floor")
                cpu.report(workload="oncall", baseline="floor")
                work.report(workload="oncall", baseline="floor")
        finally:
            for server in servers.values():
                server.stop()
        if not args.no_in_process and args.serve_from:
            print("\n(in-process comparison skipped: it would measure this tree, not --serve-from's)")
        elif not args.no_in_process:
            asgi_cpu(asgi_db, asgi_floor_db, key, rounds=args.rounds, cpus=server_cpus)


if __name__ == "__main__":
    main()
