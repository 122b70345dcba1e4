"""Escalation engine benchmark: lateness, burst rate against a bare-SQLite floor, recovery, memory.

    python bench/engine.py [--incidents 10000] [--spread 120] [--burst 1000]

(a) lateness p50/p99/max of 10,000 open incidents whose next step falls due over ``--spread`` seconds,
    fired by an in-process EngineRunner on the wall clock (APScheduler wake + tick, synchronous=FULL);
    lateness = the clock after the step's transaction committed minus the step's due time.
(b) a burst of 1,000 escalations due at once, synchronous=FULL: the engine's tick against a bare-SQLite
    floor measured in the same run (per escalation: BEGIN IMMEDIATE, claim one due row, update it, insert
    one outbox row, COMMIT; no engine code), printed as a ratio of rates.
(c) recovery: an ``oncall engine`` process is SIGKILLed with 10,000 escalations pending; they all fall
    due while it is down; time from the restart (process spawn) until none is overdue.
(d) the engine process's peak memory (VmHWM) with 10,000 open incidents, idle and after the recovery.

Targets: p99 lateness <= 100 ms and max <= 1 s; burst >= 50% of the floor's rate; recovery <= 2 s;
memory <= 200 MB. Exit status 1 if a target is missed.

(p) with ``--db postgresql://…`` (a server URL: each round makes and drops its own databases there):
    ``oncall engine`` processes on PostgreSQL, 1 and 3 of them, beside 1 on SQLite, measured alternately
    (bench/harness.py ``Compare``, ``--rounds`` rounds): the burst rate (``--burst`` steps due at once:
    steps / the real time from their due time until the last one was seen committed) and the lateness p99 of ``--pg-steps`` steps due over ``--pg-spread``
    seconds (from each step's ``escalation_timeout`` event), and the catch-up after the leaseholder is
    SIGKILLed with ``--burst`` steps overdue (restarted; with 3 engines a standby takes over). Printed as ratios
    against SQLite with one engine (a missed target is printed, not an exit status).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.clock import Clock, VirtualClock, WallClock, monotonic  # noqa: E402
from engine.runtime import escalator  # noqa: E402
from engine.runtime.runner import EngineRunner  # noqa: E402
from engine.service import Ctx  # noqa: E402
from engine.service import incidents as inc_svc  # noqa: E402
from engine.service import policies as pol_svc  # noqa: E402
from engine.service.orgs import add_user, create_org  # noqa: E402
from engine.timefmt import to_epoch_ms  # noqa: E402
from storage.db import Database, open_db  # noqa: E402


def populate(path: Path | str, n: int, clock: Clock, *, synchronous: str = "NORMAL") -> Database:
    """A database with ``n`` open incidents paging layer 1 of a 3-layer policy (60-minute timeouts)."""
    db = open_db(path, synchronous=synchronous)
    init = create_org(db, "Bench", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock)
    users = [add_user(ctx, email=f"u{i}@example.com")["id"] for i in range(3)]
    pid = pol_svc.create_policy(ctx, {"name": "Bench"})["id"]
    for i, uid in enumerate(users, start=1):
        target = {"type": "users", "userIds": [uid]}
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": 60, "target": target})
    with db.write():
        for k in range(n):
            inc_svc.create_incident(
                ctx,
                {"title": f"incident {k}", "severity": "high", "escalationPolicyId": pid, "ownerId": admin},
            )
    return db


def set_due(db: Database, start_ms: int, spread_ms: int, seed: int = 1) -> list[int]:
    """Move every escalation's next step to a random time in ``[start, start + spread]``."""
    rng = random.Random(seed)
    ids = [r[0] for r in db.all("SELECT incident_id FROM escalations ORDER BY incident_id")]
    dues = [start_ms + rng.randrange(max(1, spread_ms)) for _ in ids]
    with db.write():
        db.executemany(
            "UPDATE escalations SET due_at_ms = ? WHERE incident_id = ?", list(zip(dues, ids, strict=True))
        )
    return dues


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s))) - 1))]


# -- (a) lateness ---------------------------------------------------------------------------------


def bench_lateness(tmp: Path, n: int, spread_s: float) -> dict[str, float]:
    path = tmp / "lateness.db"
    clock = WallClock()
    db = populate(path, n, clock)
    start_ms = to_epoch_ms(clock.now()) + 3000
    set_due(db, start_ms, int(spread_s * 1000))
    lateness: list[float] = []
    lock = threading.Lock()

    def on_fired(fired: list[tuple[str, int]], at: datetime) -> None:
        now_ms = at.timestamp() * 1000
        with lock:
            lateness.extend(now_ms - due for _, due in fired)

    runner = EngineRunner(path, clock, "bench", on_fired=on_fired, deliver=False).start()
    deadline = monotonic() + spread_s + 30
    while len(lateness) < n and monotonic() < deadline:
        time.sleep(0.25)
    runner.stop()
    db.close()
    return {
        "fired": len(lateness),
        "p50": pct(lateness, 50),
        "p99": pct(lateness, 99),
        "max": max(lateness),
        "mean": statistics.fmean(lateness),
    }


# -- (b) burst vs floor ---------------------------------------------------------------------------


def bench_floor(tmp: Path, n: int) -> float:
    """Bare SQLite, synchronous=FULL: one claim + update + insert transaction per escalation."""
    path = tmp / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE esc (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, due_at_ms INTEGER)")
    conn.execute("CREATE INDEX esc_due ON esc(due_at_ms) WHERE due_at_ms IS NOT NULL")
    conn.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, payload TEXT)")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO esc (id, step, due_at_ms) VALUES (?, 0, ?)", [(i, 1000 + i % 7) for i in range(n)]
    )
    conn.execute("COMMIT")
    now_ms = 10_000
    t0 = monotonic()
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "SELECT id, step FROM esc WHERE due_at_ms IS NOT NULL AND due_at_ms <= ? ORDER BY due_at_ms LIMIT 1",
            (now_ms,),
        ).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        conn.execute(
            "UPDATE esc SET step = step + 1, due_at_ms = ? WHERE id = ?", (now_ms + 3_600_000, row[0])
        )
        conn.execute(
            "INSERT INTO outbox (idem_key, payload) VALUES (?, ?)",
            (f"{row[0]}:{row[1] + 1}", '{"type":"page"}'),
        )
        conn.execute("COMMIT")
        done += 1
    elapsed = monotonic() - t0
    conn.close()
    assert done == n
    return n / elapsed


def bench_burst(tmp: Path, n: int) -> dict[str, float]:
    path = tmp / "burst.db"
    t0 = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)
    clock = VirtualClock(t0)
    populate(path, n, clock).close()
    db = open_db(path, synchronous="FULL")
    set_due(db, to_epoch_ms(t0) + 1000, 10)
    clock.advance(timedelta(seconds=2))
    start = monotonic()
    fired = 0
    while True:
        k = escalator.tick(db, clock.now())
        fired += k
        if k == 0:
            break
    elapsed = monotonic() - start
    db.close()
    assert fired == n, fired
    engine_rate = n / elapsed
    floor_rate = bench_floor(tmp, n)
    return {"engine_rate": engine_rate, "floor_rate": floor_rate, "ratio": engine_rate / floor_rate}


# -- (c) recovery and (d) memory --------------------------------------------------------------------


def _spawn(path: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "console.cli.engine", "--db", str(path), "--name", "bench", "--quiet"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_recovery(tmp: Path, n: int) -> dict[str, float]:
    path = tmp / "recovery.db"
    clock = WallClock()
    db = populate(path, n, clock)
    proc = _spawn(path)
    time.sleep(3.0)  # the engine holds the lease, with n open incidents armed an hour ahead
    idle_mb = _vm_hwm_mb(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    now_ms = to_epoch_ms(clock.now())
    set_due(db, now_ms - 60_000, 60_000)  # everything fell due during the last minute while it was down
    # In reality those rows were written long before the crash and checkpointed; rewriting them just now
    # left a WAL of ~10,000 fresh row versions, which is an artefact of this set-up, so checkpoint it.
    db.scalar("PRAGMA wal_checkpoint(TRUNCATE)")
    at_restart = clock.now()
    assert escalator.overdue_count(db, at_restart) == n
    start = monotonic()
    proc = _spawn(path)
    while escalator.overdue_count(db, at_restart) > 0:
        time.sleep(0.01)
        if monotonic() - start > 60:
            break
    elapsed = monotonic() - start
    cpu = _cpu_seconds(proc.pid)
    peak_mb = _vm_hwm_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    fired = db.scalar("SELECT count(*) FROM timeline WHERE kind = 'escalation_timeout'")
    db.close()
    return {"seconds": elapsed, "cpu": cpu, "fired": fired, "idle_mb": idle_mb, "peak_mb": peak_mb}


# -- (p) PostgreSQL: 1 and 3 engine processes beside SQLite ----------------------------------------------


def _fresh_pg(server: str, template: str | None = None) -> str:
    """A new database on ``server`` (copied from ``template`` when given); its URL."""
    import uuid

    import psycopg

    name = f"oncall_bench_{uuid.uuid4().hex[:12]}"
    source = f"TEMPLATE {template} STRATEGY FILE_COPY" if template else "TEMPLATE template0 LOCALE 'C'"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} {source}")  # type: ignore[arg-type]
    base, _, query = server.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _drop_pg(server: str, url: str) -> None:
    import psycopg

    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def _run_engines(where: str | Path, engines: int, n: int, spread_ms: int) -> tuple[list[float], float]:
    """Start ``engines`` engine processes on ``where`` (n open incidents), wait until one holds the lease,
    make every escalation due over ``spread_ms`` from 1 s ahead, wait until all fired. Returns the lateness
    (ms) of each step (its event's instant, stamped inside its transaction, minus its due time) and the
    real seconds from the first due time until this process saw the last step committed (polling every
    10 ms: the burst's drain time)."""
    from storage import lease

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console.cli.engine",
                "--db",
                str(where),
                "--name",
                f"bench{i}",
                "--quiet",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(engines)
    ]
    db = open_db(where, migrate=False)
    wall = WallClock()
    try:
        deadline = monotonic() + 60
        while (held := lease.current(db)) is None or not held["alive"]:
            time.sleep(0.05)
            if monotonic() > deadline:
                raise RuntimeError("no engine took the lease")
        ids = [r[0] for r in db.all("SELECT incident_id FROM escalations ORDER BY incident_id")]
        first_ms = to_epoch_ms(wall.now()) + 1000
        due = dict(zip(ids, set_due(db, first_ms, spread_ms), strict=True))
        deadline = monotonic() + spread_ms / 1000 + 120
        while db.scalar("SELECT count(*) FROM timeline WHERE kind = 'escalation_timeout'") < n:
            time.sleep(0.01)
            if monotonic() > deadline:
                raise RuntimeError("the engines did not fire every step")
        drained_s = (to_epoch_ms(wall.now()) - min(due.values())) / 1000
        lates = [
            float(to_epoch_ms(datetime.fromisoformat(r[1].replace("Z", "+00:00"))) - due[r[0]])
            for r in db.all("SELECT incident_id, at FROM timeline WHERE kind = 'escalation_timeout'")
        ]
        return lates, drained_s
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(15)
        db.close()


def _recover(where: str | Path, engines: int, n: int) -> float:
    """``engines`` engine processes; the leaseholder is SIGKILLed, then all ``n`` escalations are made
    overdue (they fell due while it was down); with one engine it is restarted, with three a standby takes
    over. Seconds from then until nothing is overdue (the restart's catch-up, or the failover's)."""
    from storage import lease

    def spawn(i: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "console.cli.engine", "--db", str(where), "--name", f"rec{i}", "--quiet"]
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [spawn(i) for i in range(engines)]
    db = open_db(where, migrate=False)
    wall = WallClock()
    try:
        deadline = monotonic() + 60
        while (held := lease.current(db)) is None or not held["alive"]:
            time.sleep(0.05)
            if monotonic() > deadline:
                raise RuntimeError("no engine took the lease")
        pid = int(str(held["holder"]).rsplit("@", 1)[1].split(":")[1])
        victim = next(p for p in procs if p.pid == pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        procs.remove(victim)
        now_ms = to_epoch_ms(wall.now())
        set_due(db, now_ms - 60_000, 60_000)
        at = wall.now()
        start = monotonic()
        if not procs:
            procs.append(spawn(engines))
        while escalator.overdue_count(db, at) > 0:
            time.sleep(0.01)
            if monotonic() - start > 120:
                raise RuntimeError("still overdue after 120 s")
        return monotonic() - start
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(15)
        db.close()


def bench_postgres(tmp: Path, server: str, burst: int, steps: int, spread_s: float, rounds: int) -> None:
    """(p): see the module docstring."""
    import shutil

    from bench.harness import Compare, percentile

    clock = WallClock()
    templates: dict[tuple[str, int], str | Path] = {}
    for n in {burst, steps}:
        path = tmp / f"template-{n}.db"
        populate(path, n, clock).close()
        templates[("sqlite", n)] = path
        url = _fresh_pg(server)
        populate(url, n, clock).close()
        templates[("postgresql", n)] = url.partition("?")[0].rsplit("/", 1)[1]

    def fresh(backend: str, n: int) -> str | Path:
        if backend == "sqlite":
            path = tmp / f"run-{monotonic()}.db"
            shutil.copy(templates[(backend, n)], path)
            return path
        return _fresh_pg(server, str(templates[(backend, n)]))

    def run(backend: str, engines: int, n: int, spread_ms: int) -> tuple[list[float], float]:
        where = fresh(backend, n)
        try:
            return _run_engines(where, engines, n, spread_ms)
        finally:
            if isinstance(where, str):
                _drop_pg(server, where)

    variants = [
        ("sqlite, 1 engine", "sqlite", 1),
        ("postgresql, 1 engine", "postgresql", 1),
        ("postgresql, 3 engines", "postgresql", 3),
    ]
    rate = Compare(f"burst: {burst} steps due at once, drained by engine processes", unit="steps/s")
    late = Compare(f"lateness p99: {steps} steps due over {spread_s:g} s", unit="ms", higher_is_better=False)
    recover = Compare(
        f"catch-up: {burst} steps overdue after the leaseholder's SIGKILL (1 engine: restarted; 3: a standby)",
        unit="s",
        higher_is_better=False,
    )
    for _ in rate.rounds(rounds):
        for label, backend, engines in variants:
            _, drained_s = run(backend, engines, burst, 0)
            rate.add(label, burst / max(drained_s, 1e-3))
            lates, _ = run(backend, engines, steps, int(spread_s * 1000))
            late.add(label, percentile(lates, 99))
            where = fresh(backend, burst)
            try:
                recover.add(label, _recover(where, engines, burst))
            finally:
                if isinstance(where, str):
                    _drop_pg(server, where)
    for label in ("postgresql, 1 engine", "postgresql, 3 engines"):
        rate.report(workload=label, baseline="sqlite, 1 engine", target=0.5)
    for label in ("postgresql, 1 engine", "postgresql, 3 engines"):
        late.report(workload=label, baseline="sqlite, 1 engine", target=0.5)
    for label in ("postgresql, 1 engine", "postgresql, 3 engines"):
        recover.report(workload=label, baseline="sqlite, 1 engine", target=0.5)
    worst = max(max(v) for v in recover.figures.values())
    print(f"  worst catch-up of any run: {worst:.2f} s [target <= 2 s: {'met' if worst <= 2 else 'MISSED'}]")
    for (backend, _), name in templates.items():
        if backend == "postgresql":
            _drop_pg(server, f"{server.partition('?')[0].rsplit('/', 1)[0]}/{name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--spread", type=float, default=120.0, help="seconds over which (a)'s steps fall due")
    ap.add_argument("--burst", type=int, default=1_000)
    ap.add_argument(
        "--parts", default=None, help="which measurements to run, e.g. 'cd' (default abcd; p with --db)"
    )
    ap.add_argument("--db", default=None, help="a PostgreSQL server URL for (p); alone, runs only (p)")
    ap.add_argument("--pg-steps", type=int, default=1_000, help="(p): steps due over --pg-spread seconds")
    ap.add_argument("--pg-spread", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.parts is None:
        args.parts = "p" if args.db else "abcd"
    ok = True
    with tempfile.TemporaryDirectory(prefix="oncall-bench-") as d:
        tmp = Path(d)
        print(
            f"oncall engine benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version})"
        )
        if "a" in args.parts:
            a = bench_lateness(tmp, args.incidents, args.spread)
            good = a["p99"] <= 100 and a["max"] <= 1000 and a["fired"] == args.incidents
            ok &= good
            print(
                f"(a) lateness, {int(a['fired'])}/{args.incidents} steps due over {args.spread:g} s: "
                f"p50 {a['p50']:.1f} ms, p99 {a['p99']:.1f} ms, max {a['max']:.1f} ms, mean {a['mean']:.1f} ms "
                f"[target p99 <= 100 ms, max <= 1000 ms: {'OK' if good else 'MISSED'}]"
            )
        if "b" in args.parts:
            b = bench_burst(tmp, args.burst)
            good = b["ratio"] >= 0.5
            ok &= good
            print(
                f"(b) burst of {args.burst} due at once, synchronous=FULL: engine {b['engine_rate']:,.0f}/s, "
                f"bare-SQLite floor {b['floor_rate']:,.0f}/s, ratio {b['ratio']:.2f} "
                f"[target >= 0.50: {'OK' if good else 'MISSED'}]"
            )
        if "c" in args.parts or "d" in args.parts:
            c = bench_recovery(tmp, args.incidents)
            good = c["seconds"] <= 2.0 and c["fired"] == args.incidents
            ok &= good
            print(
                f"(c) recovery after kill -9 with {args.incidents} overdue: {int(c['fired'])} fired in "
                f"{c['seconds']:.2f} s from process spawn (engine CPU {c['cpu']:.2f} s, start-up included; "
                f"load average {os.getloadavg()[0]:.1f}) [target <= 2 s: {'OK' if good else 'MISSED'}]"
            )
            good = max(c["idle_mb"], c["peak_mb"]) <= 200
            ok &= good
            print(
                f"(d) engine process peak memory with {args.incidents} open incidents: idle {c['idle_mb']:.0f} MB, "
                f"after recovering all of them {c['peak_mb']:.0f} MB [target <= 200 MB: {'OK' if good else 'MISSED'}]"
            )
        if "p" in args.parts:
            if not args.db:
                ap.error("(p) needs --db postgresql://… (a server URL)")
            bench_postgres(tmp, args.db, args.burst, args.pg_steps, args.pg_spread, args.rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
