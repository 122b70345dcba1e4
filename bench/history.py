"""Live paths against the length of history: ``python bench/history.py [--sizes 10000,100000,1000000]``.

Builds one database per size of history (``--sizes``: timeline rows of resolved incidents; each resolved
incident carries its timeline, status history, escalation, alert and alert group, and sent pages), with
the same live state on top (open incidents opened by alerts and by hand, an armed escalation, pending
pages, a heartbeat timer). The history is made fast: a unit of resolved incidents goes through the use
cases on a virtual clock, then it is copied in bulk (``INSERT … SELECT`` through ``storage.db``), doubling
until the size is reached. Built files are cached under ``$TMPDIR/oncall-bench-history/`` (keyed by the
schema version and the size), so a second run only measures.

Each live read is timed on every size, alternating the sizes in one run, 3 rounds or more
(:class:`bench.harness.Compare`; one figure is the median of ``--calls`` calls, in µs). The baseline is the
smallest history: the ratio ``smallest / largest`` is ~1 when the read stays flat (target ≥ 0.5, i.e. at
most twice as slow with 100x the history). Then it prints the table for docs/PERFORMANCE.md, the
``EXPLAIN QUERY PLAN`` of every statement each read runs (caught with the connection's trace callback),
and the bytes each resolved incident adds to the file (its pages' growth between two doublings).
Asserts nothing about timing; exits non-zero only on its own failure.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Compare  # noqa: E402
from engine.clock import VirtualClock, monotonic  # noqa: E402
from engine.runtime import escalator  # noqa: E402
from engine.service import Ctx, alerts, incidents, integrations, readmodel  # noqa: E402
from engine.service.demo import seed_demo  # noqa: E402
from storage.db import Database, open_db  # noqa: E402
from storage.migrations import migration_names  # noqa: E402
from storage.queries import alerts as alert_queries  # noqa: E402
from storage.queries import escalations as escalation_queries  # noqa: E402
from storage.queries import notices as notice_queries  # noqa: E402
from storage.queries import page_queue as page_queries  # noqa: E402
from storage.queries import pages as page_rows  # noqa: E402
from storage.queries import timers as timer_queries  # noqa: E402

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
UNIT = 64  # resolved incidents made through the use cases, then copied
RECURRING = "disk-full/db-1"  # a dedup key that fired on every alert-opened incident of the history
LIVE_OPEN = 40  # open incidents of the live state


# -- building ---------------------------------------------------------------------------------------


def _ctx(db: Database, clock: VirtualClock, org: Any) -> Ctx:
    admin = org.users["ada"] if "ada" in org.users else next(iter(org.users.values()))
    return Ctx(db=db, org_id=org.org_id, actor_id=admin, actor_user_id=admin, clock=clock)


def _unit(db: Database, clock: VirtualClock) -> tuple[Ctx, str, str]:
    """The demo organisation and UNIT resolved incidents, half opened by the recurring alert."""
    org = seed_demo(db, clock, incidents=False)
    ctx = _ctx(db, clock, org)
    policy = next(iter(org.policies.values()))
    integration = integrations.create_integration(
        ctx, {"name": "events-history", "kind": "events", "escalationPolicyId": policy}
    )
    token = integration["token"]
    for n in range(UNIT):
        clock.advance(timedelta(minutes=7))
        if n % 2 == 0:
            got = alerts.receive(
                db, clock, token, {"action": "trigger", "summary": "Disk full", "dedupKey": RECURRING}
            )
            iid = got["alerts"][0]["incidentId"]
        else:
            iid = incidents.create_incident(
                ctx, {"title": f"Incident {n}", "severity": "high", "escalationPolicyId": policy}
            )["id"]
        clock.advance(timedelta(minutes=3))
        incidents.acknowledge(ctx, iid)
        clock.advance(timedelta(minutes=20))
        if n % 2 == 0:
            alerts.receive(db, clock, token, {"action": "resolve", "dedupKey": RECURRING})
        if incidents.get_incident(ctx, iid)["status"] != "resolved":
            incidents.resolve_incident(ctx, iid)
    with db.write():
        db.execute("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE status = 'pending'")
    return ctx, token, policy


def _double(db: Database, r: int, limit: int) -> None:
    """Copy ``limit`` resolved incidents (the oldest rows; all when there are fewer) with all their rows
    once, ids suffixed with ``_r``, ``r`` days older."""
    sfx = f"_{r}"
    shift = f"-{r} days"
    with db.write():
        off = db.scalar("SELECT max(seq) FROM incidents")
        db.execute("DROP TABLE IF EXISTS temp.copied")
        db.execute(
            "CREATE TEMP TABLE copied AS SELECT id FROM incidents WHERE status = 'resolved' ORDER BY rowid LIMIT ?",
            (limit,),
        )

        def copy(table: str, subst: dict[str, str], where: str) -> None:
            names = [c[1] for c in db.all(f"PRAGMA table_info({table})")]
            names = [n for n in names if not (table in ("timeline", "outbox") and n == "seq")]
            exprs = [subst.get(n, n) for n in names]
            db.execute(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM {table} WHERE {where}"
            )

        hist = "incident_id IN (SELECT id FROM temp.copied)"
        iso = "strftime('%Y-%m-%dT%H:%M:%fZ', {c}, '{s}')"
        copy(
            "incidents",
            {
                "id": f"id || '{sfx}'",
                "seq": f"seq + {off}",
                "created_at": iso.format(c="created_at", s=shift),
                "remote_id": "NULL",
            },
            "id IN (SELECT id FROM temp.copied)",
        )
        inc = f"incident_id || '{sfx}'"
        copy("timeline", {"id": f"id || '{sfx}'", "incident_id": inc}, hist)
        copy("status_history", {"id": f"id || '{sfx}'", "incident_id": inc}, hist)
        copy("incident_updates", {"id": f"id || '{sfx}'", "incident_id": inc}, hist)
        copy("escalations", {"incident_id": inc}, hist)
        copy("alert_groups", {"incident_id": inc}, hist)
        copy("alerts", {"id": f"id || '{sfx}'", "incident_id": inc}, hist)
        copy("outbox", {"idem_key": f"idem_key || '{sfx}'", "incident_id": inc}, hist)


def _live(db: Database, ctx: Ctx, clock: VirtualClock, token: str, policy: str) -> None:
    """The live state: open incidents (half by alerts), armed escalations, pending pages."""
    clock.advance_to(T0 + timedelta(days=400))
    for n in range(LIVE_OPEN):
        clock.advance(timedelta(minutes=1))
        if n % 2 == 0:
            alerts.receive(
                db, clock, token, {"action": "trigger", "summary": f"Live {n}", "dedupKey": f"live-{n}"}
            )
        else:
            incidents.create_incident(
                ctx, {"title": f"Live {n}", "severity": "high", "escalationPolicyId": policy}
            )


def _counts(db: Database) -> dict[str, int]:
    return {
        t: int(db.scalar(f"SELECT count(*) FROM {t}") or 0)
        for t in ("incidents", "timeline", "alerts", "outbox", "escalations")
    }


def _bytes(db: Database) -> int:
    return int(db.scalar("PRAGMA page_count") or 0) * int(db.scalar("PRAGMA page_size") or 0)


def build(path: Path, history_rows: int) -> dict[str, Any]:
    """Build the database of ``history_rows`` timeline rows of resolved history at ``path``; returns the
    row counts and the bytes one resolved incident adds (measured over the last doubling)."""
    clock = VirtualClock(T0)
    db = open_db(path)
    try:
        ctx, token, policy = _unit(db, clock)
        per_incident, most = 0.0, 0
        r = 0
        while (counts := _counts(db))["timeline"] < history_rows:
            r += 1
            per_row = counts["timeline"] / counts["incidents"]
            before_b, before_n = _bytes(db), counts["incidents"]
            _double(db, r, math.ceil((history_rows - counts["timeline"]) / per_row))
            added = _counts(db)["incidents"] - before_n
            if added > most:  # the bytes of the largest copy: the least noise from partly filled pages
                per_incident, most = (_bytes(db) - before_b) / added, added
        _live(db, ctx, clock, token, policy)
        info = {"counts": _counts(db), "bytes_per_resolved": per_incident, "org_id": ctx.org_id,
                "user_id": ctx.actor_user_id, "token": token, "now": clock.now().isoformat()}  # fmt: skip
    finally:
        db.close()
    return info


def _schema_key() -> str:
    return f"m{len(migration_names())}b4"  # schema and build version


def cached(cache: Path, history_rows: int) -> tuple[Path, dict[str, Any]]:
    import json

    path = cache / f"history-{_schema_key()}-{history_rows}.db"
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        tmp = path.with_suffix(".building")
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        t0 = monotonic()
        info = build(tmp, history_rows)
        info["build_s"] = monotonic() - t0
        tmp.rename(path)
        Path(f"{tmp}-lock").unlink(missing_ok=True)  # the builder's lock file stays with its name
        meta.write_text(json.dumps(info))
    return path, json.loads(meta.read_text())


# -- the live reads ---------------------------------------------------------------------------------


def live_reads(db: Database, info: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Each live read as a no-argument call on ``db`` (reads only: nothing is changed)."""
    clock = VirtualClock(datetime.fromisoformat(info["now"]))
    ctx = Ctx(
        db=db, org_id=info["org_id"], actor_id=info["user_id"], actor_user_id=info["user_id"], clock=clock
    )
    now_ms = int(clock.now().timestamp() * 1000) + 3_600_000
    integration_id = integrations.list_integrations(ctx)[0]["id"]
    folded_probe = list(range(1, 51))  # a claimed batch of 50 page queue rows

    def read(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with db.read():
                return fn()

        return run

    return {
        "list open incidents (API, open only)": lambda: incidents.list_incidents(
            ctx, open_only=True, limit=100
        ),
        "list by status (API ?status=investigating)": lambda: incidents.list_incidents(
            ctx, status="investigating", limit=100
        ),
        "list by status (API ?status=resolved, first page)": lambda: incidents.list_incidents(
            ctx, status="resolved", limit=20
        ),
        "console first load (open incidents)": lambda: readmodel.open_incidents(db, ctx.org_id),
        "my on-call (open incidents of a person)": lambda: readmodel.my_open_incidents(
            db, ctx.org_id, info["user_id"]
        ),
        "engine next due (escalations)": lambda: escalator.next_due(db),
        "engine due claim (escalations, 500)": read(lambda: escalation_queries.due_rows(db, now_ms, 500)),
        "page queue due claim (500)": read(lambda: page_queries.due_rows(db, now_ms, 500)),
        "timers due (500)": read(
            lambda: timer_queries.due(db, now_ms, 500, ["heartbeat", "maintenance_end", "rule_step"])
        ),
        "notices due (500)": read(lambda: notice_queries.due_rows(db, now_ms, 500)),
        "delivery: pages folded into a batch's pages": read(lambda: page_rows.folded_into(db, folded_probe)),
        "alert lookup by dedup key (recurring key)": read(
            lambda: alert_queries.open_alert(db, integration_id, RECURRING)
        ),
        "alert group lookup by group key (recurring key)": read(
            lambda: alert_queries.open_group(db, integration_id, RECURRING)
        ),
    }


def _time_us(fn: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = monotonic()
        fn()
        times.append(monotonic() - t0)
    times.sort()
    return times[len(times) // 2] * 1e6


def plans(db: Database, fn: Callable[[], Any]) -> list[str]:
    """The ``EXPLAIN QUERY PLAN`` lines of every SELECT ``fn`` runs (one line per statement)."""
    caught: list[str] = []
    db.conn.set_trace_callback(caught.append)
    try:
        fn()
    finally:
        db.conn.set_trace_callback(None)
    out = []
    for sql in dict.fromkeys(s for s in caught if s.lstrip().upper().startswith("SELECT")):
        detail = "; ".join(str(r[3]) for r in db.conn.execute("EXPLAIN QUERY PLAN " + sql))
        out.append(detail)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default="10000,100000,1000000", help="timeline rows of history, comma-separated"
    )
    ap.add_argument("--calls", type=int, default=50, help="calls per figure (its median)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "oncall-bench-history")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached databases")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.fresh and args.cache.exists():
        shutil.rmtree(args.cache)
    args.cache.mkdir(parents=True, exist_ok=True)

    built = {}
    for size in sizes:
        path, info = cached(args.cache, size)
        built[size] = (path, info)
        c = info["counts"]
        print(
            f"history {size:>9,}: {c['incidents']:,} incidents, {c['timeline']:,} timeline rows, "
            f"{c['alerts']:,} alerts, {c['outbox']:,} pages, {os.path.getsize(path) / 1e6:,.0f} MB, "
            f"{info['bytes_per_resolved']:,.0f} bytes per resolved incident"
            + (f" (built in {info['build_s']:.0f} s)" if "build_s" in info else "")
        )

    dbs = {size: open_db(path) for size, (path, _) in built.items()}
    reads = {size: live_reads(dbs[size], built[size][1]) for size in sizes}
    names = list(reads[sizes[0]])
    label = {s: f"{s // 1000}k" if s < 1_000_000 else f"{s // 1_000_000}M" for s in sizes}
    table = []
    for name in names:
        cmp = Compare(f"{name} (median of {args.calls} calls)", unit="µs", higher_is_better=False)
        for _ in cmp.rounds(args.rounds):
            for size in sizes:
                fn = reads[size][name]
                cmp.measure(label[size], lambda fn=fn: _time_us(fn, args.calls))  # type: ignore[misc]
        ratio = cmp.report(workload=label[sizes[-1]], baseline=label[sizes[0]], target=0.5)
        table.append((name, [cmp.stats(label[s])[1] for s in sizes], ratio))

    print("\n## History growth (median µs per call; ratio = smallest history / largest, ~1 is flat)\n")
    print(
        "| live read | " + " | ".join(label[s] for s in sizes) + f" | {label[sizes[0]]}/{label[sizes[-1]]} |"
    )
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name, figures, ratio in table:
        print(f"| {name} | " + " | ".join(f"{f:,.0f}" for f in figures) + f" | {ratio:.2f} |")

    big = sizes[-1]
    print(f"\n## EXPLAIN QUERY PLAN (history {label[big]})\n")
    for name in names:
        print(f"* {name}:")
        for line in plans(dbs[big], reads[big][name]):
            print(f"  - `{line}`")
    for db in dbs.values():
        db.close()


if __name__ == "__main__":
    main()
