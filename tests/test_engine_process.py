"""The engine as processes: lease and takeover, two engines on one database, and the SIGKILL crash test.

The verdicts are about what happened (who holds the lease, which steps fired, once, in order), never
about how long it took: waits poll a condition with a generous deadline, and the real-time figures
(takeover after a kill, catch-up after a restart, lateness on a scaled clock) are measured by
``bench/failover.py``."""

from __future__ import annotations

import json
import os
import queue
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import Clock, VirtualClock, monotonic
from engine.runtime import escalator
from engine.runtime.runner import EngineRunner
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user, create_org
from engine.timefmt import from_epoch_ms, to_epoch_ms
from storage import lease
from storage.db import Database
from storage.db_clock import bind_clock
from tests.helpers import ONCALL, seed_demo_file

REPO = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> float:
    """Poll ``predicate`` until it holds; ``timeout`` (seconds) only says when to give up. Returns the
    seconds it took, for the crash test's printed figures (never a verdict)."""
    start = monotonic()
    while not predicate():
        if monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
    return monotonic() - start


def _setup(db: Database, clock: Clock, timeouts: tuple[int, ...] = (5, 10)) -> tuple[Ctx, str, list[str]]:
    init = create_org(db, "Acme", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock)
    users = [add_user(ctx, email=f"u{i}@example.com")["id"] for i in range(len(timeouts))]
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    for i, (minutes, uid) in enumerate(zip(timeouts, users, strict=True), start=1):
        target = {"type": "users", "userIds": [uid]}
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": minutes, "target": target})
    return ctx, pid, users


def _create(ctx: Ctx, pid: str) -> str:
    body = {"title": "x", "severity": "high", "escalationPolicyId": pid, "ownerId": ctx.actor_user_id}
    return inc_svc.create_incident(ctx, body)["id"]


def _timeline(db: Database) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
    out: dict[str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    for r in db.all("SELECT seq, incident_id, kind, data FROM timeline ORDER BY seq"):
        out[r["incident_id"]].append((r["seq"], r["kind"], json.loads(r["data"])))
    return out


def check_exactly_once(db: Database, layer_count: int, *, require_complete: bool) -> dict[str, int]:
    """The crash invariants, from the database alone. Returns a few counts."""
    dupes = db.all("SELECT idem_key FROM outbox GROUP BY idem_key HAVING count(*) > 1")
    assert not dupes
    stats = {"incidents": 0, "steps": 0, "acked": 0}
    for iid, events in _timeline(db).items():
        stats["incidents"] += 1
        pages = [d["position"] for _, k, d in events if k == "layer_paged"]
        timeouts = [d["position"] for _, k, d in events if k == "escalation_timeout"]
        exhausted = [s for s, k, _ in events if k == "escalation_exhausted"]
        acks = [s for s, k, _ in events if k == "escalation_acknowledged"]
        m = len(timeouts)
        assert timeouts == list(range(1, m + 1)), (iid, timeouts)  # each due step fired once, in order
        assert pages == list(range(1, min(m + 1, layer_count) + 1)), (iid, pages)
        assert len(exhausted) == (1 if m == layer_count else 0), (iid, exhausted)
        assert not any(
            d.get("duplicate") for _, k, e in events if k == "layer_paged" for d in e["deliveries"]
        )
        assert "page_duplicate_ignored" not in {k for _, k, _ in events}
        stats["steps"] += m
        if acks:
            stats["acked"] += 1
            assert len(acks) == 1
            after = [k for s, k, _ in events if s > acks[0]]
            assert not {"layer_paged", "escalation_timeout", "escalation_exhausted"} & set(after), (
                iid,
                after,
            )
        elif require_complete:
            assert m == layer_count, (iid, timeouts)
    n_pages = db.scalar("SELECT count(*) FROM outbox")
    n_events = db.scalar("SELECT count(*) FROM timeline WHERE kind = 'layer_paged'")
    assert n_pages == n_events  # one user per layer, log channel: one outbox row per page
    return stats


# -- lease ----------------------------------------------------------------------------------------


def test_lease_acquire_renew_expire_and_fence(db: Database) -> None:
    a = lease.acquire(db, "a@elsewhere:1:x", ttl_s=0.2)
    assert a is not None and a.token == 1
    assert lease.acquire(db, "b@elsewhere:2:y", ttl_s=0.2) is None
    assert lease.renew(db, a, ttl_s=0.2)
    taken: list[lease.Fence] = []

    def b_acquires() -> bool:
        fence = lease.acquire(db, "b@elsewhere:2:y", ttl_s=5)
        taken.extend([fence] if fence is not None else [])
        return fence is not None

    wait_for(b_acquires, what="a's lease to expire")  # a is not renewed again: b gets it, next token
    b = taken[0]
    assert b.token == 2
    assert not lease.renew(db, a)  # a was replaced: it must stop
    with db.write():
        assert not lease.holds(db, a) and lease.holds(db, b)
    assert escalator.tick(db, from_epoch_ms(0), fence=a) == 0
    lease.release(db, b)
    assert lease.acquire(db, "c@elsewhere:3:z") is not None


def test_dead_local_holder_is_replaced_at_once(db: Database) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"engine@{lease._HOST}:{proc.pid}:abc"  # a process on this machine that has exited
    assert lease.acquire(db, dead, ttl_s=60) is not None
    taken = lease.acquire(db, "engine@otherhost:1:def", ttl_s=60)
    assert taken is not None and taken.token == 2  # no need to wait out the 60 s
    assert lease.acquire(db, "engine@thirdhost:2:ghi", ttl_s=60) is None  # remote holders only expire


# -- two engines in one process, virtual clock -----------------------------------------------------


@pytest.fixture
def runners() -> Iterator[list[EngineRunner]]:
    made: list[EngineRunner] = []
    yield made
    for r in made:
        if r.mode != "stopped":
            r.stop()


def test_two_engines_one_database_each_step_fires_once(
    db_path: Path, db: Database, clock: VirtualClock, runners: list[EngineRunner]
) -> None:
    ctx, pid, _ = _setup(db, clock)
    kw: dict[str, Any] = {"lease_ttl": 1.0, "renew_every": 0.1, "deliver": False}
    a = EngineRunner(db_path, clock, "a", **kw).start()
    runners.append(a)
    wait_for(lambda: a.mode == "embedded", what="a to hold the lease")
    b = EngineRunner(db_path, clock, "b", **kw).start()
    runners.append(b)
    wait_for(lambda: b.mode == "standby", what="b to stand by")
    assert (a.mode, b.mode) == ("embedded", "standby")
    ids = [_create(ctx, pid) for _ in range(20)]
    clock.advance(timedelta(minutes=5))
    a.poke()
    b.poke()
    wait_for(lambda: escalator.overdue_count(db, clock.now()) == 0, what="layer 2")
    assert b.fired_total == 0 and a.fired_total == 20
    a.abandon()  # dies without releasing: b waits out the 1 s TTL
    wait_for(lambda: b.mode == "embedded", what="b to take over")
    clock.advance(timedelta(minutes=10))
    b.poke()
    wait_for(lambda: escalator.overdue_count(db, clock.now()) == 0, what="exhaustion")
    stats = check_exactly_once(db, 2, require_complete=True)
    assert stats == {"incidents": 20, "steps": 40, "acked": 0}
    assert b.fired_total == 20
    assert all(escalator.escalation_state(db, i)["state"] == "exhausted" for i in ids)  # type: ignore[index]


def test_runner_wakes_at_due_time_on_a_scaled_clock(
    db_path: Path, db: Database, runners: list[EngineRunner]
) -> None:
    clock = bind_clock(db, 600)  # 1 min of clock time = 0.1 s
    ctx, pid, users = _setup(db, clock, timeouts=(1, 1))
    r = EngineRunner(db_path, clock, "solo", deliver=False).start()
    runners.append(r)
    iid = _create(ctx, pid)
    wait_for(lambda: escalator.escalation_state(db, iid)["state"] == "exhausted")  # type: ignore[index]
    timeouts = [e["data"] for e in _events(db, iid) if e["kind"] == "escalation_timeout"]
    # Both steps fired by the runner's own wake-ups, each recording its lateness (bench/failover.py
    # measures how late, in real time).
    assert [t["position"] for t in timeouts] == [1, 2]
    assert all(isinstance(t["lateMs"], int) and t["lateMs"] >= 0 for t in timeouts)


def _events(db: Database, iid: str) -> list[dict[str, Any]]:
    from storage import timeline

    return timeline.events(db, iid)


# -- real processes --------------------------------------------------------------------------------


def _spawn(
    db_path: Path, name: str, speed: float | None = None, *, quiet: bool = True
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "console.cli.engine", "--db", str(db_path), "--name", name]
    if quiet:
        cmd.append("--quiet")
    if speed is not None:
        cmd += ["--speed", str(speed)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _says(proc: subprocess.Popen[bytes], words: str, timeout: float = 30.0) -> None:
    """Wait until ``proc`` prints a stderr line containing ``words`` (the engine says each mode it
    enters); fail if it exits or ``timeout`` seconds pass first."""
    assert proc.stderr is not None
    deadline = monotonic() + timeout
    seen: list[str] = []
    while monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if not ready:
            continue
        line = proc.stderr.readline().decode()
        if not line:
            raise AssertionError(f"the engine exited before saying {words!r}: {seen}")
        seen.append(line)
        if words in line:
            return
    raise AssertionError(f"timed out waiting for the engine to say {words!r}: {seen}")


def _holder(db: Database) -> str:
    row = lease.current(db)
    return "" if row is None else str(row["holder"])


@pytest.mark.slow
def test_standby_process_takes_over_after_sigkill(db_path: Path, db: Database) -> None:
    """How soon is a figure of bench/failover.py; here: the standby takes the lease, and only then."""
    first = _spawn(db_path, "first")
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: _holder(db).startswith("first@"), what="first engine to take the lease")
        second = _spawn(db_path, "second", quiet=False)
        _says(second, "engine standby")
        assert _holder(db).startswith("first@")  # the second one stands by
        first.send_signal(signal.SIGKILL)
        wait_for(lambda: _holder(db).startswith("second@"), what="takeover")
        _says(second, "engine embedded")
        first.wait()
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(5)


@pytest.mark.slow
def test_crash_sigkill_many_times_every_step_once(db_path: Path, db: Database) -> None:
    """An engine on a x60 clock is SIGKILLed at random moments while incidents are opened and acked.

    The run is counted, not timed: ``ONCALL_CRASH_KILLS`` rounds (10; set it higher for a longer storm
    when the engine's commit path changes), each opening at least ten
    incidents (and acknowledging some) for a random stretch before the kill, so the counts checked below
    hold however loaded the machine is. After each restart the test waits (the deadline only says when
    to give up) until nothing that was due at the restart is overdue; the catch-up times are printed,
    and bench/failover.py holds them to their target."""
    speed = 60.0  # one clock minute per real second
    clock = bind_clock(db, speed)
    layer_count = 3
    ctx, pid, _ = _setup(db, clock, timeouts=(1,) * layer_count)
    rng = random.Random(int(os.environ.get("ONCALL_CRASH_SEED", "20261127")))
    rounds = int(os.environ.get("ONCALL_CRASH_KILLS", "10"))
    per_round = 10
    incidents: list[str] = []
    acked: set[str] = set()
    restart_catchup: list[float] = []
    proc = _spawn(db_path, "crashy", speed)
    kills = 0
    try:
        for _ in range(rounds):
            until = monotonic() + rng.uniform(0.15, 1.5)  # when in the engine's work the kill lands
            opened = 0
            while opened < per_round or monotonic() < until:
                incidents.append(_create(ctx, pid))
                opened += 1
                if rng.random() < 0.25:
                    victim = rng.choice(incidents)
                    if victim not in acked:
                        inc_svc.acknowledge(ctx, victim)
                        acked.add(victim)
                time.sleep(rng.uniform(0.0, 0.03))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            at_restart = clock.now()
            proc = _spawn(db_path, "crashy", speed)
            # Everything that was due at the restart is caught up by the new engine.
            restart_catchup.append(
                wait_for(
                    lambda at=at_restart: escalator.overdue_count(db, at) == 0,
                    what="overdue escalations after a restart",
                )
            )
        # Let every remaining escalation run out, then stop cleanly.
        wait_for(lambda: escalator.next_due(db) is None, timeout=120, what="every escalation to end")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert kills == rounds
    stats = check_exactly_once(db, layer_count, require_complete=True)
    assert stats["incidents"] == len(incidents) >= per_round * rounds
    assert stats["acked"] == len(acked)
    lates = [
        json.loads(r["data"])["lateMs"]
        for r in db.all("SELECT data FROM timeline WHERE kind = 'escalation_timeout'")
    ]
    assert len(lates) == stats["steps"]
    print(
        f"\ncrash test: {len(incidents)} incidents, {stats['steps']} steps, {kills} SIGKILLs, "
        f"catch-up after restart max {max(restart_catchup):.2f} s, "
        f"max lateness {max(lates) / speed / 1000:.2f} real s"
    )
    assert to_epoch_ms(clock.now()) > 0


def test_stop_while_a_cycle_is_running_does_not_deadlock(
    db_path: Path, db: Database, clock: VirtualClock
) -> None:
    import threading

    ctx, pid, _ = _setup(db, clock)
    for _ in range(3):
        _create(ctx, pid)
    in_cycle = threading.Event()

    def slow_hook(fired: list[tuple[str, int]], at: Any) -> None:
        in_cycle.set()
        time.sleep(0.5)  # the cycle is still running (and will re-arm its wake) when stop() is called

    r = EngineRunner(db_path, clock, "slow", deliver=True, on_fired=slow_hook, lease_ttl=1.0)
    r.start()
    wait_for(lambda: r.mode == "embedded")
    clock.advance(timedelta(minutes=5))
    r.poke()
    assert in_cycle.wait(5)
    stopper = threading.Thread(target=r.stop, daemon=True)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive(), "stop() deadlocked"
    assert r.mode == "stopped"
    assert lease.current(db)["alive"] is False  # type: ignore[index]


def _announced(db_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``oncall engine`` (not quiet) and return it with the first line it prints on stderr."""
    proc = subprocess.Popen(
        [ONCALL, "--db", str(db_path), "engine"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr
    threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
    return proc, lines.get(timeout=30)


def test_an_engine_announces_its_mode_once_the_first_lease_attempt_decided(tmp_path: Path) -> None:
    """Alone on a database it says ``embedded`` at once (no passing ``standby`` first); a second engine
    says ``standby``."""
    path = tmp_path / "o.db"
    seed_demo_file(path)
    first, line = _announced(path)
    try:
        assert line.startswith(f"engine embedded: {path} "), line
        second, line = _announced(path)
        try:
            assert line.startswith(f"engine standby: {path} "), line
        finally:
            second.terminate()
            second.wait(15)
    finally:
        first.terminate()
        first.wait(15)
