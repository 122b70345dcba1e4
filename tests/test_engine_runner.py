"""The runner's wake-up loop and the engine's caches between transactions, through public interfaces:
``EngineRunner`` with a wake source, ``escalator.tick`` with an ``EngineCache``, the policy use cases."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.runtime import escalator
from engine.runtime.runner import DataVersionSource, EngineRunner
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user
from storage.db import Database, open_db
from tests.test_engine_process import wait_for

MIN = timedelta(minutes=1)


def _policy(ctx: Ctx, timeouts: tuple[int, ...]) -> tuple[str, list[str]]:
    pid = pol_svc.create_policy(ctx, {"name": "Runner"})["id"]
    users = []
    for i, timeout in enumerate(timeouts, start=1):
        uid = add_user(ctx, email=f"r{i}@example.com")["id"]
        users.append(uid)
        target = {"type": "users", "userIds": [uid]}
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": timeout, "target": target})
    return pid, users


def _incident(ctx: Ctx, pid: str) -> str:
    body = {"title": "disk full", "severity": "high", "escalationPolicyId": pid, "ownerId": ctx.actor_user_id}
    return str(inc_svc.create_incident(ctx, body)["id"])


def _drift_events(db: Database, iid: str) -> list[dict[str, Any]]:
    rows = db.all(
        "SELECT at, data FROM timeline WHERE incident_id = ? AND kind = 'escalation_policy_changed' ORDER BY seq",
        (iid,),
    )
    return [{"at": r["at"], **json.loads(r["data"])} for r in rows]


def test_the_drift_check_cached_across_ticks_sees_every_edit_and_its_undoing(
    ctx: Ctx, db: Database, clock: VirtualClock
) -> None:
    """One EngineCache for many ticks (as the runner keeps it): an edit of the live policy is noticed at
    the next step, and undoing the edit (a shape seen before, served from the cache) is noticed too."""
    cache = escalator.EngineCache()
    pid, _ = _policy(ctx, (5, 5, 5))
    first = _incident(ctx, pid)  # runs on the policy as created
    clock.advance(5 * MIN)
    assert escalator.tick(db, clock, cache=cache) == 1  # the live policy is the snapshot: no drift
    assert _drift_events(db, first) == []
    layer2 = pol_svc.list_layers(ctx, pid)[1]["id"]
    pol_svc.update_layer(ctx, pid, layer2, {"ackTimeoutMinutes": 7})
    second = _incident(ctx, pid)  # runs on the edited policy
    clock.advance(5 * MIN)
    assert escalator.tick(db, clock, cache=cache) == 2
    assert len(_drift_events(db, first)) == 1  # a cache by policy id alone would have missed the edit
    assert _drift_events(db, second) == []
    pol_svc.update_layer(ctx, pid, layer2, {"ackTimeoutMinutes": 5})  # back to the first shape
    clock.advance(5 * MIN)
    assert escalator.tick(db, clock, cache=cache) == 1  # the first incident's layer 3 (its snapshot: 5 min)
    clock.advance(2 * MIN)
    assert escalator.tick(db, clock, cache=cache) == 1  # the second incident's layer 2 (its snapshot: 7 min)
    assert len(_drift_events(db, second)) == 1
    assert len(_drift_events(db, first)) == 1  # noted once, not again for the same live shape


class PushSource:
    """A wake source like PostgreSQL's LISTEN: it is never polled and calls ``wake`` from its own thread."""

    poll_every = None

    def __init__(self) -> None:
        self.wake: Callable[[], None] | None = None
        self.polled = 0
        self.closed = False

    def open(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def changed(self) -> bool:
        self.polled += 1
        return False

    def close(self) -> None:
        self.closed = True

    def notify(self) -> None:
        """What a LISTEN thread does when a NOTIFY arrives."""
        thread = threading.Thread(target=lambda: self.wake and self.wake())
        thread.start()
        thread.join()


@pytest.fixture
def stop_later() -> Iterator[list[EngineRunner]]:
    made: list[EngineRunner] = []
    yield made
    for r in made:
        if r.mode != "stopped":
            r.stop()


def test_a_push_wake_source_plugs_into_the_loop_without_being_polled(
    db_path: Path, db: Database, ctx: Ctx, clock: VirtualClock, stop_later: list[EngineRunner]
) -> None:
    pid, _ = _policy(ctx, (5, 5))
    ids = [_incident(ctx, pid) for _ in range(3)]
    source = PushSource()
    r = EngineRunner(db_path, clock, "push", deliver=False, wake_source=lambda _db: source).start()
    stop_later.append(r)
    assert source.wake is not None  # opened with the runner's wake function
    wait_for(lambda: r.mode == "embedded", what="the lease")
    clock.advance(5 * MIN)
    source.notify()
    wait_for(lambda: escalator.overdue_count(db, clock.now()) == 0, what="layer 2 to be paged")
    assert r.fired_total == len(ids)
    r.stop()
    assert source.closed
    assert source.polled == 0


def test_the_sqlite_source_reports_other_connections_commits_once(
    db_path: Path, db: Database, ctx: Ctx
) -> None:
    """``PRAGMA data_version`` moves for another connection's commit, not for the engine's own."""
    engine_db = open_db(db_path, migrate=False, create=False)
    try:
        source = DataVersionSource(engine_db, poll_every=0.05)
        source.open(lambda: None)
        assert source.changed() is False
        with db.write():
            db.execute("UPDATE orgs SET name = name")
        assert source.changed() is True
        assert source.changed() is False  # reported once
        with engine_db.write():
            engine_db.execute("UPDATE orgs SET name = name")
        assert source.changed() is False  # its own commit is not a change from elsewhere
    finally:
        engine_db.close()


def test_a_burst_of_pokes_runs_few_cycles_and_fires_everything(
    db_path: Path, db: Database, ctx: Ctx, clock: VirtualClock, stop_later: list[EngineRunner]
) -> None:
    """poke() only sets an event: 10,000 pokes while cycles run coalesce into a handful of cycles."""
    pid, _ = _policy(ctx, (5, 5))
    for _ in range(5):
        _incident(ctx, pid)
    r = EngineRunner(db_path, clock, "pokes", deliver=False).start()
    stop_later.append(r)
    wait_for(lambda: r.mode == "embedded", what="the lease")
    clock.advance(5 * MIN)
    before = r.cycles
    for _ in range(10_000):
        r.poke()
    wait_for(lambda: escalator.overdue_count(db, clock.now()) == 0, what="layer 2 to be paged")
    wait_for(lambda: r.fired_total == 5, what="the runner's count")
    assert r.cycles - before < 1_000


def test_the_people_side_cached_between_ticks_is_dropped_when_another_connection_commits(
    db_path: Path, db: Database, ctx: Ctx, clock: VirtualClock
) -> None:
    """The runner's cache keeps contact methods between ticks on its own connection; a contact method
    added through another connection (the API, the console) is used by the very next page."""
    from engine.service import contacts as contacts_svc

    pid = pol_svc.create_policy(ctx, {"name": "Same person"})["id"]
    uid = add_user(ctx, email="solo@example.com")["id"]
    for i in (1, 2, 3):
        target = {"type": "users", "userIds": [uid]}
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": 5, "target": target})
    iid = _incident(ctx, pid)
    engine_db = open_db(db_path, migrate=False, create=False)
    try:
        cache = escalator.EngineCache()
        clock.advance(5 * MIN)
        assert escalator.tick(engine_db, clock, cache=cache) == 1  # layer 2: the log channel, cached
        contacts_svc.add_contact_method(
            ctx, uid, {"channel": "webhook", "address": "https://example.com/hook"}
        )
        clock.advance(5 * MIN)
        assert escalator.tick(engine_db, clock, cache=cache) == 1  # layer 3
    finally:
        engine_db.close()
    channels = [
        (r["layer_position"], r["channel"])
        for r in db.all(
            "SELECT layer_position, channel FROM outbox WHERE incident_id = ? ORDER BY seq", (iid,)
        )
    ]
    assert channels == [(1, "log"), (2, "log"), (3, "webhook")]
