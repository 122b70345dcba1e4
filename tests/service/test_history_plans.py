"""The guard of issue 17's "nothing on a live path grows with history": every SELECT a live path runs
(caught with the connection's trace callback while the use case runs on a small real database) is checked
with ``EXPLAIN QUERY PLAN``; a full scan of a table that grows with history ("SCAN incidents", with or
without an index that is not a partial index of live rows) fails, naming the path and the statement.
docs/PERFORMANCE.md "History growth" has the figures at 10k / 100k / 1M rows (bench/history.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.runtime import escalator
from engine.service import Ctx, alerts, incidents, integrations, policies, readmodel
from storage.db import Database
from storage.queries import alerts as alert_queries
from storage.queries import escalations as escalation_queries
from storage.queries import notices as notice_queries
from storage.queries import page_queue as page_queries
from storage.queries import pages as page_rows
from storage.queries import policies as policy_queries
from storage.queries import schedules as schedule_queries
from storage.queries import timers as timer_queries

# Tables whose rows pile up with resolved history.
HISTORY_TABLES = {
    "incidents",
    "timeline",
    "status_history",
    "incident_updates",
    "escalations",
    "policy_snapshots",
    "alerts",
    "alert_groups",
    "outbox",
    "notices",
    "notice_events",
}
# Partial indexes that hold only live rows: walking one whole costs the live rows, not the history.
LIVE_INDEXES = {"incidents_open", "incidents_open_policy", "escalations_live"}

_ALIASES = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.IGNORECASE)
_SCAN = re.compile(r"^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")


def history_scans(db: Database, sql: str) -> list[str]:
    """The plan lines of ``sql`` that walk a whole history table (or a whole index of one that is not a
    partial index of live rows)."""
    aliases = {}
    for table, alias in _ALIASES.findall(sql):
        aliases[table] = table
        if alias and alias.upper() not in {"WHERE", "ON", "LEFT", "JOIN", "ORDER", "GROUP", "LIMIT", "USING"}:
            aliases[alias] = table
    bad = []
    for row in db.conn.execute("EXPLAIN QUERY PLAN " + sql):
        m = _SCAN.match(str(row[3]))
        if m and aliases.get(m.group(1), m.group(1)) in HISTORY_TABLES and m.group(2) not in LIVE_INDEXES:
            bad.append(str(row[3]))
    return bad


def statements(db: Database, fn: Callable[[], Any]) -> list[str]:
    """Every SELECT that ``fn`` runs on ``db``, with its parameters bound (the trace callback's text)."""
    caught: list[str] = []
    db.conn.set_trace_callback(caught.append)
    try:
        fn()
    finally:
        db.conn.set_trace_callback(None)
    return list(dict.fromkeys(s for s in caught if s.lstrip().upper().startswith(("SELECT", "WITH"))))


@pytest.fixture
def world(ctx: Ctx, clock: VirtualClock) -> Iterator[dict[str, Any]]:
    """A small history (resolved incidents opened by a recurring alert and by hand) and live state."""
    people = [ctx.actor_user_id]
    pol = policies.create_policy(ctx, {"name": "Primary"})
    policies.add_layer(
        ctx,
        pol["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": people}},
    )
    integ = integrations.create_integration(
        ctx, {"name": "events", "kind": "events", "escalationPolicyId": pol["id"]}
    )
    for n in range(6):
        clock.advance(timedelta(minutes=10))
        got = alerts.receive(
            ctx.db, clock, integ["token"], {"action": "trigger", "summary": "disk", "dedupKey": "disk"}
        )
        iid = got["alerts"][0]["incidentId"]
        alerts.receive(ctx.db, clock, integ["token"], {"action": "resolve", "dedupKey": "disk"})
        other = incidents.create_incident(
            ctx, {"title": f"i{n}", "severity": "high", "escalationPolicyId": pol["id"]}
        )
        incidents.acknowledge(ctx, other["id"])
        incidents.resolve_incident(ctx, other["id"])
        assert incidents.get_incident(ctx, iid)["status"] == "resolved"
    incidents.create_incident(ctx, {"title": "live", "severity": "high", "escalationPolicyId": pol["id"]})
    yield {"policy": pol["id"], "integration": integ["id"], "token": integ["token"]}


def live_paths(ctx: Ctx, clock: VirtualClock, world: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    db, org = ctx.db, ctx.org_id
    now_ms = int(clock.now().timestamp() * 1000)
    user = ctx.actor_user_id
    assert user is not None

    def read(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with db.read():
                return fn()

        return run

    return {
        "list open incidents": lambda: incidents.list_incidents(ctx, open_only=True),
        "list by status": lambda: incidents.list_incidents(ctx, status="investigating"),
        "list resolved": lambda: incidents.list_incidents(ctx, status="resolved"),
        "console first load": lambda: readmodel.open_incidents(db, org),
        "console resolved view": lambda: readmodel.resolved_incidents(db, org, 50),
        "console change feed": lambda: readmodel.changed_incidents(db, org, 0),
        "my on-call": lambda: readmodel.my_open_incidents(db, org, user),
        "engine next due": lambda: escalator.next_due(db),
        "engine overdue count": lambda: escalator.overdue_count(db, clock.now()),
        "engine due claim": read(lambda: escalation_queries.due_rows(db, now_ms, 500)),
        "engine tick": lambda: escalator.tick(db, clock.now()),
        "page queue claim": read(lambda: page_queries.due_rows(db, now_ms, 500)),
        "page queue has due": read(lambda: page_queries.has_due(db, now_ms)),
        "timers due": read(lambda: timer_queries.due(db, now_ms, 500, ["heartbeat", "rule_step"])),
        "timers next due": read(lambda: timer_queries.next_due_ms(db, ["heartbeat", "rule_step"])),
        "notices claim": read(lambda: notice_queries.due_rows(db, now_ms, 500)),
        "delivery's folded pages": read(lambda: page_rows.folded_into(db, [1, 2, 3])),
        "alert by dedup key": read(lambda: alert_queries.open_alert(db, world["integration"], "disk")),
        "alert group by key": read(lambda: alert_queries.open_group(db, world["integration"], "disk")),
        "alert received": lambda: alerts.receive(
            db, clock, world["token"], {"action": "trigger", "summary": "disk", "dedupKey": "disk"}
        ),
        "alert list": read(lambda: alert_queries.integration_alerts(db, org, None, 50)),
        "alert list of an integration": read(
            lambda: alert_queries.integration_alerts(db, org, world["integration"], 50)
        ),
        "policy's open incidents": read(lambda: policy_queries.open_incident_count(db, world["policy"])),
        "escalations on a schedule": read(lambda: schedule_queries.incidents_escalating_to(db, "sch_x")),
    }


def test_no_live_path_scans_a_history_table(ctx: Ctx, clock: VirtualClock, world: dict[str, Any]) -> None:
    failures = []
    for name, fn in live_paths(ctx, clock, world).items():
        sqls = statements(ctx.db, fn)
        assert sqls, f"{name} ran no SELECT: the guard would check nothing"
        for sql in sqls:
            for line in history_scans(ctx.db, sql):
                failures.append(f"{name}: {line}\n    {sql}")
    assert not failures, "live paths that walk the history:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    ("sql", "scans"),
    [
        ("SELECT * FROM incidents WHERE title = 'x'", True),
        (
            "SELECT i.id FROM incidents i JOIN escalations e ON e.incident_id = i.id WHERE e.state = 'paging'",
            True,
        ),
        ("SELECT * FROM incidents WHERE status != 'resolved' AND org_id = 'o'", False),
        ("SELECT incident_id FROM escalations WHERE state != 'stopped'", False),
        ("SELECT * FROM timeline WHERE seq > 5", False),
    ],
)
def test_the_guard_sees_a_full_scan(db: Database, sql: str, scans: bool) -> None:
    assert bool(history_scans(db, sql)) is scans


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "resolved"},
        {"from_": "2026-01-01"},
        {"to": "2026-12-31T00:00:00Z"},
        {"status": "investigating", "from_": "2026-01-01", "to": "2026-12-31"},
        {"cursor": "eyJjIjoiMjAyNi0wNC0wN1QxMDowMDowMC4wMDBaIiwiaSI6ImluY196In0"},
        {"status": "resolved", "cursor": "eyJjIjoiMjAyNi0wNC0wN1QxMDowMDowMC4wMDBaIiwiaSI6ImluY196In0"},
    ],
)
def test_list_pages_answered_on_the_event_loop_walk_an_index_in_order(
    ctx: Ctx, world: dict[str, Any], filters: dict[str, str]
) -> None:
    """The HTTP API answers ``GET /v1/incidents`` on its event loop when
    ``incidents.page_walks_an_index`` says the page is a walk of an index (every filter but ``severity``):
    each such filter must keep the page a walk of one index in the answer's order, bounded by the filter
    (a range, not a residual test) and stopped at ``limit``: no sort of the matches, no scan."""
    assert incidents.page_walks_an_index(filters)
    assert not incidents.page_walks_an_index({**filters, "severity": "low"})
    sqls = statements(ctx.db, lambda: incidents.list_incidents(ctx, limit=100, **filters))
    page = [s for s in sqls if "FROM incidents" in s and "LIMIT" in s]
    assert len(page) == 1, sqls
    plan = [str(row[3]) for row in ctx.db.conn.execute("EXPLAIN QUERY PLAN " + page[0])]
    assert len(plan) == 1, plan
    assert re.match(r"SEARCH incidents USING INDEX incidents_org_(status_)?created \(org_id=\?", plan[0]), (
        plan
    )
    if "status" in filters:
        assert "status=?" in plan[0], plan
    if "from_" in filters or "cursor" in filters or "to" in filters:
        assert "created_at>" in plan[0] or "created_at<" in plan[0], plan
