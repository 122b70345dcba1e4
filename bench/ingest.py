"""Benchmark of alerts in: ``python bench/ingest.py [--alerts 10000] [--keys 500] [--clients 32]``.

Starts a real ``oncall serve`` (engine embedded) on a fresh database with one escalation policy whose layer
1 pages a person through a webhook contact method (a loopback receiver in this script that notes when each
page arrives), and an integration of each kind, then sends a storm of
``--alerts`` alerts over ``--keys`` dedup keys (in a shuffled order, so new incidents are spread through the
storm) from ``--clients`` concurrent keep-alive connections (``bench/loopback.py``'s client processes, pinned
to other cores than the server's), after an untimed warm-up on other keys. Two runs: generic events, one
alert per request, and Alertmanager webhooks of ``--batch`` alerts each (as Alertmanager groups them).
``--serve-from DIR`` runs the server from another checkout (e.g. ``git archive main``) for a before/after;
``--plain-http`` hides httptools and uvloop from it (uvicorn then uses h11 and asyncio's loop). Prints:

* alerts accepted per second (every answer must be 202);
* the p50/p99 of the receive call (request sent → answer read, at the client);
* the p50/p99 from receipt to the first page of each new incident: the client's send instant to the page
  queue row's ``created_at`` (queued, in the receive transaction) and to the page's arrival at the
  webhook (delivered by the engine); and queued → arrived alone (the batch's commit, delivery, the
  receiver).

The webhook receiver answers HTTP/1.1 with keep-alive, as webhook receivers do (it was HTTP/1.0 until
session 6: a TCP connection, and a thread in the receiver, a page).

Asserts nothing about timing (goal: ≥ 1,000 alerts/s, receipt → page p99 ≤ 200 ms); exits non-zero only if
an alert was refused or a new incident was never paged.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loopback import (
    Server,
    cpu_split,
    drive,
    dumps,
    from_tree,
    oncall_serve_command,
    raw_request,
    seed_ingest,
    start_server,
)  # noqa: E402, I001
from engine.clock import WallClock  # noqa: E402
from storage.db import open_db  # noqa: E402


def _receive_pages(port_out: Any, log_path: str) -> None:
    """The webhook receiver's process: append ``<incident id> <arrival epoch s>`` per page to ``log_path``."""
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as webhook receivers are: not a TCP connection a page

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            at = time.time()
            log.write(f"{json.loads(body)['incident']['id']} {at}\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.send(server.server_address[1])
    server.serve_forever()


class Pages:
    """A loopback webhook receiver in its own process (so it takes no time from the load generator): the
    first arrival instant (epoch s) of a page for each incident."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "pages.log"
        parent, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=_receive_pages, args=(child, str(self.log)), daemon=True)
        self.proc.start()
        self.url = f"http://127.0.0.1:{parent.recv()}/page"

    @property
    def first(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                incident, at = line.split()
                out.setdefault(incident, float(at))
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


def serve(db_path: Path, serve_from: str | None, plain_http: bool, cpus: str | None) -> Server:
    """``oncall serve`` on ``db_path`` with the per-contact-method rate limit off: every page of the storm
    goes to one person's one webhook, and the default (5 a minute, docs/PAGES.md) would fold them."""
    config = db_path.with_name("config.toml")
    config.write_text("[pages]\nrate_limit_per_minute = 0\n")
    cmd, env = from_tree(oncall_serve_command(db_path), serve_from, plain_http)
    return start_server(cmd, cpus=cpus, env={**env, "ONCALL_CONFIG": str(config)})


def _event(run: str, key: int, n: int) -> dict[str, Any]:
    return {
        "action": "trigger",
        "dedupKey": f"{run}-{key}",
        "summary": f"bench alert {key}",
        "severity": "critical",
        "source": f"host-{key}",
        "details": {"n": n},
    }


def _am(run: str, keys: list[int], n: int) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "oncall",
        "groupKey": f"{run}-group-{keys[0]}",
        "groupLabels": {"alertname": "Bench"},
        "commonLabels": {"alertname": "Bench", "severity": "critical"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Bench", "severity": "critical", "instance": f"host-{k}"},
                "annotations": {"summary": f"bench alert {k}", "n": str(n)},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": f"{run}-{k}",
            }
            for k in keys
        ],
    }


def storm(
    server: Server, path: str, kind: str, alerts: int, keys: int, batch: int, clients: int, run: str,
    cpus: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Send the storm; returns latencies, the send instant (epoch s) of each key's first alert, errors."""
    rng = random.Random(7)
    order = [i % keys for i in range(alerts)]
    rng.shuffle(order)
    if kind == "events":
        payloads = [([k], _event(run, k, n)) for n, k in enumerate(order)]
    else:
        # Alertmanager groups: each group key is a fixed set of `batch` alert keys, re-sent as it repeats.
        groups = max(1, keys // batch)
        payloads = []
        for n in range(alerts // batch):
            g = order[n] % groups
            members = [g * batch + j for j in range(batch)]
            payloads.append((members, _am(run, members, n)))
    requests = [(i, raw_request("POST", path, dumps(body))) for i, (_, body) in enumerate(payloads)]
    load = drive(server.port, requests=requests, connections=clients, procs=2, cpus=cpus, ok_status=202)
    first_sent: dict[int, float] = {}
    for tag, sent, _, _ in sorted(load.results, key=lambda r: r[1]):
        for k in payloads[tag][0]:
            first_sent.setdefault(k, sent)
    errors = load.refusals + [f"missing answers: {len(requests) - len(load.results)}"] * (
        len(load.results) < len(requests)
    )
    return {
        "latencies": load.latencies,
        "first_sent": first_sent,
        "errors": errors,
        "elapsed": load.elapsed,
        "accepted": sum(len(m) for m, _ in payloads),
        "client_cpu": load.client_cpu,
    }


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def page_delays(
    db_path: Path, run: str, first_sent: dict[int, float], arrived: dict[str, float]
) -> tuple[list[float], list[float], list[float], int]:
    """Receipt → page queued, → page arrived, and page queued → arrived (seconds: the commit, the engine's
    delivery and the receiver) for every incident the run opened; and how many of those incidents no
    page reached."""
    db = open_db(db_path, migrate=False)
    try:
        rows = db.all(
            "SELECT g.incident_id, min(a.dedup_key) AS dedup_key, min(o.created_at) AS queued_at "
            "FROM alert_groups g JOIN alerts a ON a.incident_id = g.incident_id AND a.first_seen = g.first_seen "
            "LEFT JOIN outbox o ON o.incident_id = g.incident_id WHERE a.dedup_key LIKE ? GROUP BY g.incident_id",
            (f"{run}-%",),
        )
    finally:
        db.close()
    queued, sent, handed, unpaged = [], [], [], 0
    for r in rows:
        start = first_sent[int(r["dedup_key"].rsplit("-", 1)[1])]
        if r["queued_at"] is not None:
            queued.append(_epoch(r["queued_at"]) - start)
        if r["incident_id"] in arrived:
            sent.append(arrived[r["incident_id"]] - start)
            if r["queued_at"] is not None:
                handed.append(arrived[r["incident_id"]] - _epoch(r["queued_at"]))
        else:
            unpaged += 1
    return queued, sent, handed, unpaged


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100)[p - 1] * 1000


def wait_delivered(db_path: Path, timeout: float = 60) -> dict[str, int]:
    """Wait (at most ``timeout`` s) until no page is pending or being sent; returns the page queue's count
    by status."""
    deadline = time.monotonic() + timeout
    while True:
        db = open_db(db_path, migrate=False)
        try:
            rows = db.all("SELECT status, count(*) AS n FROM outbox GROUP BY status")
        finally:
            db.close()
        counts = {r["status"]: r["n"] for r in rows}
        if not (counts.get("pending") or counts.get("sending")) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def in_process(tmp: Path, alerts: int, keys: int) -> None:
    """The receive use case alone (no HTTP, no engine), on its own database: the service's ceiling."""
    from engine.service import alerts as alert_service

    db_path = tmp / "in-process.db"
    paths = seed_ingest(db_path, "http://127.0.0.1:9/unused")
    token = paths["events"].split("/")[-2]
    db = open_db(db_path)
    clock = WallClock()
    order = [i % keys for i in range(alerts)]
    random.Random(7).shuffle(order)
    t0 = time.perf_counter()
    for n, k in enumerate(order):
        alert_service.receive(db, clock, token, _event("inproc", k, n))
    elapsed = time.perf_counter() - t0
    db.close()
    print(
        f"in process (receive use case only, events): {alerts / elapsed:7.0f} alerts/s ({keys} incidents opened)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, default=10, help="alerts per Alertmanager webhook")
    parser.add_argument("--serve-from", help="run the server from this source tree (a before/after)")
    parser.add_argument("--plain-http", action="store_true", help="the server without httptools and uvloop")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process ceiling")
    args = parser.parse_args()
    server_cpus, client_cpus = cpu_split()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "ingest.db"
        pages = Pages(Path(tmp))
        paths = seed_ingest(db_path, pages.url)
        server = serve(db_path, args.serve_from, args.plain_http, server_cpus)
        try:
            print(
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; server on CPU {server_cpus}, "
                f"clients on CPU {client_cpus}; {args.alerts} alerts over {args.keys} dedup keys, "
                f"{args.clients} connections"
            )
            for kind, batch in (("events", 1), ("alertmanager", args.batch)):
                run = f"{kind}{batch}"
                # Warm up (connections, the server's thread pool and caches) on other keys, untimed.
                storm(
                    server, paths[kind], kind, 64 * batch, 16, batch, args.clients, f"warm-{run}", client_cpus
                )
                got = storm(
                    server, paths[kind], kind, args.alerts, args.keys, batch, args.clients, run, client_cpus
                )
                queue = wait_delivered(db_path)
                queued, sent, handed, unpaged = page_delays(db_path, run, got["first_sent"], pages.first)
                lat = sorted(got["latencies"])
                print(
                    f"{kind:12} batch {batch:3}: {got['accepted'] / got['elapsed']:7.0f} alerts/s "
                    f"({len(lat) / got['elapsed']:.0f} req/s, {len(got['errors'])} refused, client CPU "
                    f"{got['client_cpu'] / max(1, len(lat)) * 1e6:.0f} µs/request)   "
                    f"receive p50 {_pct(lat, 50):6.1f} ms p99 {_pct(lat, 99):6.1f} ms   "
                    f"receipt→page queued p99 {_pct(queued, 99):6.1f} ms, arrived p50 {_pct(sent, 50):6.1f} "
                    f"p99 {_pct(sent, 99):6.1f} ms ({len(queued)} incidents, {unpaged} unpaged)"
                )
                print(
                    f"  page queued→arrived p50 {_pct(handed, 50):6.1f} p99 {_pct(handed, 99):6.1f} ms; "
                    f"page queue by status: {queue}"
                )
                rate, arrived_p99 = got["accepted"] / got["elapsed"], _pct(sent, 99)
                print(
                    f"  {kind}: goal >= 1,000 alerts/s: {'met' if rate >= 1000 else 'MISSED'} ({rate:.0f}); "
                    f"goal receipt→page arrived p99 <= 200 ms: {'met' if arrived_p99 <= 200 else 'MISSED'} "
                    f"({arrived_p99:.0f} ms)"
                )
                if got["errors"]:
                    print("  first refusal:", got["errors"][0])
                failed = failed or bool(got["errors"]) or unpaged > 0
        finally:
            server.stop()
            pages.stop()
        if not args.no_in_process:
            in_process(Path(tmp), args.alerts, args.keys)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
