"""``oncall report`` through its entry point: the --json shape (docs/REPORTS.md), figures that agree with
what the service did, the window, errors; and the reads go through the time index."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from engine.clock import VirtualClock
from engine.service import incidents
from engine.timefmt import to_iso
from storage.queries import reports as report_queries
from tests.cli.conftest import one_error_line, service
from tests.helpers import run_oncall

KEYS = {
    "from",
    "to",
    "timezone",
    "night",
    "incidents",
    "bySeverity",
    "byPolicy",
    "acknowledged",
    "resolved",
    "timeToAcknowledgeSeconds",
    "timeToResolveSeconds",
    "ackedAtLayer",
    "exhausted",
    "ackedAfterExhaustion",
    "people",
    "busiestHours",
}


def _report(db: Path, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run_oncall(db, "report", "--json", *args).stdout)


def test_json_shape_and_figures_follow_the_timeline(demo: Path) -> None:
    before = _report(demo)
    assert set(before) == KEYS
    assert set(before["timeToAcknowledgeSeconds"]) == {"count", "mean", "p50", "p95", "max"}
    assert before["night"] == {"start": "22:00", "end": "07:00"} and len(before["busiestHours"]) == 24
    assert list(before["bySeverity"]) == ["critical", "high", "medium", "low"]
    for p in before["people"]:
        assert set(p) == {"userId", "name", "pages", "nightPages"} and 0 <= p["nightPages"] <= p["pages"]
    with service(demo) as ctx:
        # a new incident opened, acknowledged 4 minutes later and resolved 10 minutes after opening
        start = ctx.now()
        clock = VirtualClock(start + timedelta(seconds=1))
        ctx.clock = clock
        created = incidents.create_incident(
            ctx, {"title": "Disk full", "severity": "critical", "escalationPolicyId": None}
        )
        clock.advance(timedelta(minutes=4))
        incidents.acknowledge(ctx, created["id"])
        clock.advance(timedelta(minutes=6))
        incidents.resolve_incident(ctx, created["id"])
        end = clock.now() + timedelta(seconds=1)
    after = _report(demo, "--from", start.isoformat(), "--to", end.isoformat())
    assert after["incidents"] == 1 and after["bySeverity"]["critical"] == 1
    assert after["timeToAcknowledgeSeconds"]["mean"] == 240.0
    assert after["timeToResolveSeconds"]["mean"] == 600.0
    assert after["byPolicy"] == [{"policyId": None, "policy": "(no policy)", "incidents": 1, "exhausted": 0}]
    assert after["from"] == to_iso(start)


def test_window_excludes_incidents_opened_outside_it(demo: Path) -> None:
    everything = _report(demo, "--from", "2000-01-01", "--to", "2999-12-31")
    assert everything["incidents"] >= 3
    empty = _report(demo, "--from", "2000-01-01", "--to", "2000-01-02")
    assert (
        empty["incidents"] == 0
        and empty["people"] == []
        and empty["timeToAcknowledgeSeconds"]["mean"] is None
    )
    # a bare date as --to includes that whole day
    day = _report(demo, "--from", "2000-01-01", "--to", "2000-01-01")
    assert day["to"] == "2000-01-02T00:00:00.000Z"


def test_text_output_shows_the_numbers(demo: Path) -> None:
    data = _report(demo)
    out = run_oncall(demo, "report").stdout
    assert f"incidents            {data['incidents']}" in out
    assert "MTTA" in out and "MTTR" in out and "busiest hours" in out
    for p in data["people"]:
        assert p["name"] in out


def test_bad_bounds_are_one_error_line(demo: Path) -> None:
    one_error_line(run_oncall(demo, "report", "--from", "yesterday-ish", ok=False), "--from")
    one_error_line(
        run_oncall(demo, "report", "--from", "2026-02-01", "--to", "2026-01-01", ok=False), "before"
    )
    one_error_line(run_oncall(demo, "report", "--tz", "Mars/Olympus", ok=False), "--tz")


def test_reads_use_the_time_indexes(demo: Path) -> None:
    """The period's reads never scan a whole table: incidents by (org, created_at), events by (at, kind)."""
    with service(demo) as ctx:
        for sql, args in (
            (report_queries.OPENED_SQL, ("o", "a", "b")),
            (report_queries.EVENTS_SQL, ("a", "b", "[]", "o", "a")),
            (report_queries.SNAPSHOTS_SQL, ("o", "a", "b")),
        ):
            plan = " | ".join(r["detail"] for r in ctx.db.all("EXPLAIN QUERY PLAN " + sql, args))
            assert "SCAN incidents" not in plan and "SCAN t " not in plan and "SCAN timeline" not in plan, (
                plan
            )
        events_plan = " ".join(
            r["detail"]
            for r in ctx.db.all("EXPLAIN QUERY PLAN " + report_queries.EVENTS_SQL, ("a", "b", "[]", "o", "a"))
        )
        assert "incidents_org_created" in events_plan and "timeline_incident" in events_plan, events_plan
