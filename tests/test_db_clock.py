"""One clock per database, and timeline timestamps that never run backwards (storage/db_clock.py).

* A database records its clock on first use; a process opening it with another (``--speed`` on a wall
  database, none or another speed on a scaled one) is refused with one line and exit 2: through the
  ``oncall`` entry point, for ``engine``, ``serve`` and the console's global option alike.
* A scaled database reopened later resumes its clock where it stopped (real time moved by a test clock).
* Every write takes its instant once ``BEGIN IMMEDIATE`` holds the lock: two writers on separate
  connections to one file, where the first one's clock is read and the other could then commit first,
  leave a timeline whose timestamps do not decrease in commit (``seq``) order.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import Clock, VirtualClock
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user, create_org
from storage.db import Database, open_db
from storage.db_clock import bind_clock
from tests.conftest import T0
from tests.helpers import ONCALL, run_oncall

# -- refusing the other clock, through the command line ---------------------------------------------


def _refused(proc: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def _serve(db: Path, *args: str) -> Iterator[str]:
    """``oncall --db DB serve --port 0 ARGS…`` until the generator is closed; yields the base URL."""
    proc = subprocess.Popen(
        [ONCALL, "--db", str(db), "serve", "--port", "0", "--no-access-log", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends (EOF) if the server exits
            m = re.search(r"oncall API on (http://\S+)/v1", line)
            if m:
                yield m.group(1)
                return
        raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_scaled_demo_database_refuses_wall_time_and_other_speeds(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    run_oncall(path, "demo", "--no-console", "--speed", "60")
    _refused(run_oncall(path, "engine", ok=False), "scaled clock (60×)", "--speed 60")
    _refused(
        run_oncall(path, "serve", "--port", "0", ok=False, process=True), "scaled clock (60×)", "--speed 60"
    )
    _refused(run_oncall(path, "--speed", "30", "engine", ok=False), "scaled clock (60×)", "--speed 60")
    _refused(run_oncall(path, "incidents", ok=False), "scaled clock (60×)")
    _refused(run_oncall(path, "demo", "--no-console", ok=False), "scaled clock (60×)")
    # The same speed is accepted, given before or after the command.
    served = _serve(path, "--speed", "60")
    assert next(served).startswith("http://127.0.0.1:")
    served.close()
    assert run_oncall(path, "--speed", "60", "incidents").returncode == 0
    # Starting the demo over is the way back to wall time.
    run_oncall(path, "demo", "--no-console", "--reset")
    assert run_oncall(path, "incidents").returncode == 0


def test_a_wall_time_database_refuses_speed(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    run_oncall(path, "init", "--org", "Acme", "--admin-email", "admin@example.com")
    hint = "--speed is only for demo and drill copies: use oncall demo --speed 60"
    _refused(run_oncall(path, "engine", "--speed", "60", ok=False), "runs on wall time", hint)
    _refused(run_oncall(path, "--speed", "60", "engine", ok=False), "runs on wall time", hint)
    _refused(
        run_oncall(path, "serve", "--speed", "60", "--port", "0", ok=False, process=True), "runs on wall time"
    )
    _refused(run_oncall(path, "--speed", "60", "incidents", ok=False), "runs on wall time")
    _refused(run_oncall(path, "engine", "--speed", "0", ok=False), "--speed must be positive")
    assert run_oncall(path, "incidents").returncode == 0


BAD_SPEEDS = ["inf", "nan", "1e308", "-1", "10001", "\u0661"]  # the last: an Arabic-Indic one


@pytest.mark.parametrize("speed", BAD_SPEEDS)
def test_a_speed_no_clock_can_run_at_is_refused_before_anything_is_created(
    tmp_path: Path, speed: str
) -> None:
    path = tmp_path / "demo.db"
    for args in (
        ("demo", "--no-console", "--speed", speed),
        ("--speed", speed, "demo", "--no-console"),
        ("engine", "--speed", speed),
    ):
        _refused(run_oncall(path, *args, ok=False), "--speed must be positive and at most 10000", speed)
        assert list(tmp_path.iterdir()) == [], args  # no database, no clock row recorded


def test_a_drill_refuses_a_speed_no_clock_can_run_at(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    run_oncall(path, "demo", "--no-console")
    for speed in BAD_SPEEDS:
        proc = run_oncall(path, "drill", "Platform Default", "--speed", speed, ok=False)
        _refused(proc, "--speed must be positive and at most 10000", speed)
        assert proc.stdout == ""


@pytest.mark.parametrize("speed", [float("inf"), float("nan"), 1e308, 0.0])
def test_the_database_never_records_a_speed_no_clock_can_run_at(db: Database, speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive and at most 10000"):
        bind_clock(db, speed)
    assert db.one("SELECT * FROM clock") is None


# -- a scaled clock resumes where it stopped --------------------------------------------------------


def _org(db: Database, clock: Clock) -> tuple[Ctx, str]:
    init = create_org(db, "Acme", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock)
    users = [add_user(ctx, email=f"u{i}@example.com")["id"] for i in range(2)]
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    for i, uid in enumerate(users, start=1):
        target = {"type": "users", "userIds": [uid]}
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": 1, "target": target})
    return ctx, pid


def _incident(ctx: Ctx, pid: str) -> str:
    body = {"title": "x", "severity": "high", "escalationPolicyId": pid}
    return str(inc_svc.create_incident(ctx, body)["id"])


def _stamps(db: Database) -> list[str]:
    return [r["at"] for r in db.all("SELECT at FROM timeline ORDER BY seq")]


def test_a_scaled_database_reopened_later_resumes_its_clock(db_path: Path) -> None:
    real = VirtualClock(T0)  # the machine's time, moved by the test
    db = open_db(db_path)
    clock = bind_clock(db, 60, real=real)
    ctx, pid = _org(db, clock)
    first = _incident(ctx, pid)
    real.advance(timedelta(minutes=10))  # ten real minutes at 60x: ten clock hours
    escalator.tick(db, clock)
    second = _incident(ctx, pid)
    stopped = clock.now()
    assert stopped - T0 == timedelta(hours=10)
    db.close()

    real.advance(timedelta(days=2))  # nobody ran it for two days
    db = open_db(db_path)
    clock = bind_clock(db, 60, real=real)
    assert clock.now() == stopped  # neither wall time (T0 + 2 days) nor T0 + 10 h + 2 days x 60
    ctx = Ctx(db=db, org_id=ctx.org_id, actor_id=ctx.actor_id, actor_user_id=ctx.actor_id, clock=clock)
    real.advance(timedelta(seconds=1))
    inc_svc.acknowledge(ctx, second)
    third = _incident(ctx, pid)
    stamps = _stamps(db)
    assert stamps == sorted(stamps)
    created = {i: inc_svc.get_incident(ctx, i)["createdAt"] for i in (first, second, third)}
    assert created[first] < created[second] < created[third]
    assert inc_svc.get_incident(ctx, third)["createdAt"] == "2026-04-07T20:01:00.000Z"  # stopped + 60 s
    db.close()


def test_processes_running_a_scaled_clock_share_it_and_never_go_back(db_path: Path) -> None:
    real = VirtualClock(T0)
    a_db, b_db = open_db(db_path), open_db(db_path)
    a = bind_clock(a_db, 60, real=real)
    real.advance(timedelta(seconds=5))
    b = bind_clock(b_db, 60, real=real)  # a ran 5 s ago: b joins it
    assert a.now() == b.now() == T0 + timedelta(minutes=5)
    ctx, pid = _org(a_db, a)
    real.advance(timedelta(minutes=1))  # a goes quiet for a minute; c opens the file and resumes it
    c_db = open_db(db_path)
    c = bind_clock(c_db, 60, real=real)
    assert c.now() == T0 + timedelta(minutes=5) < a.now()
    c_ctx = Ctx(db=c_db, org_id=ctx.org_id, actor_id=ctx.actor_id, actor_user_id=ctx.actor_id, clock=c)
    first = _incident(c_ctx, pid)
    second = _incident(ctx, pid)  # a follows the anchor c stored rather than stamping an hour ahead
    assert a.now() == c.now()
    real.advance(timedelta(seconds=-2))  # NTP steps the machine's clock back: two clock minutes
    third = _incident(ctx, pid)
    created = [inc_svc.get_incident(ctx, i)["createdAt"] for i in (first, second, third)]
    assert created == ["2026-04-07T10:05:00.000Z"] * 3
    stamps = _stamps(a_db)
    assert stamps == sorted(stamps)
    for d in (a_db, b_db, c_db):
        d.close()


# -- instants are taken inside the write transaction -----------------------------------------------


class _Source:
    """Shared time for two writers: every reading is one second after the previous one."""

    def __init__(self, start: datetime) -> None:
        self._t = start
        self._lock = threading.Lock()

    def read(self) -> datetime:
        with self._lock:
            self._t += timedelta(seconds=1)
            return self._t


class _SourceClock:
    def __init__(self, source: _Source) -> None:
        self.source = source

    def now(self) -> datetime:
        return self.source.read()

    def sleep_seconds(self, clock_seconds: float) -> float:
        return 0.0


class _RacingClock(_SourceClock):
    """The first writer's clock. The first reading starts the rival writer (its own connection) in a
    thread. If this writer does not hold the write lock yet (an instant taken before ``BEGIN
    IMMEDIATE``), the rival takes the lock and commits its later instant first, as under load; if it
    does, the rival waits behind this writer's transaction and reads its clock after it commits."""

    def __init__(self, source: _Source, db: Database, rival: Callable[[], None]) -> None:
        super().__init__(source)
        self.db = db
        self.thread = threading.Thread(target=rival)
        self.inside: bool | None = None

    def now(self) -> datetime:
        t = super().now()
        if self.inside is None:
            self.inside = self.db.conn.in_transaction
            self.thread.start()
            if not self.inside:
                self.thread.join(20)
        return t


@pytest.fixture
def two_writers(db_path: Path) -> Iterator[tuple[Database, Database, Ctx, str, str, _Source]]:
    """Two connections to one file; incident ``x`` (no policy) and ``y``, paged at T0 and due at T0+1 min.
    The per-incident clamp cannot hide a stamp taken too early: the two writers touch different incidents."""
    a, b = open_db(db_path), open_db(db_path)
    ctx, pid = _org(a, VirtualClock(T0))
    x = str(inc_svc.create_incident(ctx, {"title": "x", "severity": "high"})["id"])
    y = _incident(ctx, pid)
    yield a, b, ctx, x, y, _Source(T0 + timedelta(minutes=1))
    a.close()
    b.close()


def _ctx_on(db: Database, ctx: Ctx, clock: Clock) -> Ctx:
    return Ctx(db=db, org_id=ctx.org_id, actor_id=ctx.actor_id, actor_user_id=ctx.actor_id, clock=clock)


def _assert_commit_order_is_time_order(db: Database) -> None:
    rows = db.all("SELECT at, kind, incident_id FROM timeline ORDER BY seq")
    for before, after in zip(rows, rows[1:], strict=False):
        assert before["at"] <= after["at"], (
            f"{after['kind']} on {after['incident_id']} at {after['at']} committed after "
            f"{before['kind']} on {before['incident_id']} at {before['at']}"
        )


def test_an_ack_waiting_for_an_engine_step_is_stamped_after_it(two_writers: tuple) -> None:  # type: ignore[type-arg]
    a, b, ctx, x, y, source = two_writers
    fired: list[int] = []
    racing = _RacingClock(source, a, lambda: fired.append(escalator.tick(b, _SourceClock(source))))
    inc_svc.acknowledge(_ctx_on(a, ctx, racing), x)
    racing.thread.join(20)
    _assert_commit_order_is_time_order(a)
    assert racing.inside is True  # the acknowledgement read its clock holding the write lock
    assert fired == [1]  # the engine step, waiting for the lock, then paged y


def test_an_engine_step_waiting_for_an_ack_is_stamped_after_it(two_writers: tuple) -> None:  # type: ignore[type-arg]
    a, b, ctx, x, y, source = two_writers
    acker = _ctx_on(b, ctx, _SourceClock(source))
    racing = _RacingClock(source, a, lambda: inc_svc.acknowledge(acker, x))
    fired = escalator.tick(a, racing)
    racing.thread.join(20)
    _assert_commit_order_is_time_order(a)
    assert racing.inside is True
    assert fired == 1  # y was paged; the acknowledgement of x, waiting for the lock, came after it
    assert a.scalar("SELECT kind FROM timeline ORDER BY seq DESC") == "incident_acknowledged"


def test_a_clock_stepping_back_never_stamps_an_incident_before_its_latest_event(
    ctx: Ctx, db: Database, clock: VirtualClock
) -> None:
    users = [add_user(ctx, email="u@example.com")["id"]]
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    target = {"type": "users", "userIds": users}
    pol_svc.add_layer(ctx, pid, {"position": 1, "ackTimeoutMinutes": 5, "target": target})
    pol_svc.add_layer(ctx, pid, {"position": 2, "ackTimeoutMinutes": 5, "target": target})
    iid = _incident(ctx, pid)
    clock.advance(timedelta(minutes=10))
    inc_svc.post_update(ctx, iid, {"body": "looking", "visibility": "internal"})
    clock.advance(timedelta(minutes=-5))  # NTP steps the machine's clock back five minutes
    assert escalator.tick(db, clock) == 1  # the batched engine path
    clock.advance(timedelta(minutes=-2))
    inc_svc.acknowledge(ctx, iid)  # one event at a time
    events = inc_svc.get_incident(ctx, iid)["timeline"]
    stamps = [e["at"] for e in events]
    assert stamps == sorted(stamps)
    assert stamps[-1] == "2026-04-07T10:10:00.000Z"
    assert events[-1]["kind"] == "escalation_acknowledged"
