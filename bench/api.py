"""Benchmark of the local HTTP API: ``python bench/api.py [--duration 10] [--clients 50]``.

Seeds a fresh database with 10,000 incidents, starts a real ``oncall serve`` process on loopback, and
drives it with 50 concurrent keep-alive clients (spread over a few client processes so the load
generator is not the bottleneck on its own), first with ``GET /v1/incidents?limit=100`` then with
``POST /v1/incidents``. Prints requests/s and p50/p99 latency; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.clock import VirtualClock  # noqa: E402
from engine.service import Ctx  # noqa: E402
from engine.service.incidents import create_incident  # noqa: E402
from engine.service.orgs import create_org  # noqa: E402
from storage.db import open_db  # noqa: E402

SEVERITIES = ("critical", "high", "medium", "low")


def seed(db_path: Path, count: int) -> str:
    """An organisation and ``count`` incidents (one a minute, through the service); returns the API key."""
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


def start_server(db_path: Path) -> tuple[subprocess.Popen[str], str]:
    oncall = Path(sys.executable).with_name("oncall")
    cmd = [str(oncall) if oncall.exists() else "oncall", "serve", "--db", str(db_path), "--port", "0",
           "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    url = None
    for _ in range(3):
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/v1 ", line)
        if m:
            url = m.group(1)
        print("  server:", line.rstrip())
    if url is None:
        proc.kill()
        raise SystemExit("oncall serve did not print its address; see its output above")
    return proc, url


def _client_process(url: str, key: str, method: str, path: str, clients: int, start: float, stop: float) -> tuple[list[float], int]:  # fmt: skip
    import httpx

    body = json.dumps({"title": "Bench incident", "severity": "high"}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def one_client(latencies: list[float], errors: list[int]) -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            while time.time() < start:
                await asyncio.sleep(0.001)
            while time.time() < stop:
                t0 = time.perf_counter()
                resp = await client.request(method, path, content=body if method == "POST" else None)
                await resp.aread()
                latencies.append(time.perf_counter() - t0)
                if resp.status_code >= 300:
                    errors.append(resp.status_code)

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors: list[int] = []
        await asyncio.gather(*(one_client(latencies, errors) for _ in range(clients)))
        return latencies, len(errors)

    return asyncio.run(main())


def run_load(url: str, key: str, method: str, path: str, clients: int, procs: int, duration: float) -> None:
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    start = time.time() + 1.5  # let every client process connect first
    stop = start + duration
    with ProcessPoolExecutor(procs) as pool:
        futures = [pool.submit(_client_process, url, key, method, path, n, start, stop) for n in per]
        results = [f.result() for f in futures]
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    if not latencies:
        print(f"{method} {path}: no request completed")
        return
    p50 = statistics.quantiles(latencies, n=100)[49] * 1000
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(
        f"{method:4} {path:28} {len(latencies) / duration:8.0f} req/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"
        f"   ({len(latencies)} requests, {errors} non-2xx, {clients} clients)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                        help="client processes sharing the clients")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        key = seed(db_path, args.incidents)
        print(f"seeded {args.incidents} incidents in {time.perf_counter() - t0:.1f} s")
        proc, url = start_server(db_path)
        try:
            print(f"{os.cpu_count()} CPUs; load from {args.procs} client process(es) on the same machine")
            run_load(url, key, "GET", "/v1/incidents?limit=100", args.clients, args.procs, args.duration)
            run_load(url, key, "POST", "/v1/incidents", args.clients, args.procs, args.duration)
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
