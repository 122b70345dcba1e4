"""The pure report (engine/reports.py) on hand-made timelines: exact MTTA/MTTR, night pages across DST,
and the definitions it shares with the simulation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from engine import escalation as esc
from engine import reports
from engine import simulation as sim
from engine.model import EscalationLayer, Policy, Target

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def inc(
    iid: str, at: datetime, severity: str = "high", policy: str | None = "pol_a"
) -> reports.IncidentFacts:
    return reports.IncidentFacts(iid, int(iid[1:]), severity, policy, at)


def ev(iid: str, at: datetime, kind: str, **data: Any) -> reports.TimelineFact:
    return reports.TimelineFact(iid, at, kind, data)


def test_mtta_and_mttr_are_exact_means_with_nearest_rank_percentiles() -> None:
    incidents = [inc("i1", T0), inc("i2", T0 + timedelta(hours=1), "critical"), inc("i3", T0, "low", None)]
    events = [
        ev("i1", T0 + timedelta(minutes=2), "incident_acknowledged"),
        ev("i1", T0 + timedelta(minutes=9), "incident_acknowledged"),  # only the first counts
        ev("i2", T0 + timedelta(hours=1, minutes=6), "incident_acknowledged"),
        ev(
            "i1",
            T0 + timedelta(minutes=30),
            "status_changed",
            fromStatus="investigating",
            toStatus="identified",
        ),
        ev("i1", T0 + timedelta(minutes=40), "status_changed", fromStatus="identified", toStatus="resolved"),
        ev("i2", T0 + timedelta(hours=3), "status_changed", fromStatus="monitoring", toStatus="resolved"),
        ev("other", T0, "incident_acknowledged"),  # not an incident of the period: ignored
    ]
    r = reports.compute(incidents, events)
    assert r.incidents == 3 and r.acknowledged == 2 and r.resolved == 2
    assert r.time_to_acknowledge == reports.Durations(2, 240.0, 120.0, 360.0, 360.0)
    assert r.time_to_resolve == reports.Durations(2, (2400.0 + 7200.0) / 2, 2400.0, 7200.0, 7200.0)
    assert r.by_severity == {"critical": 1, "high": 1, "medium": 0, "low": 1}
    assert r.by_policy == {"pol_a": 2, None: 1}
    assert r.by_hour[12] == 2 and r.by_hour[13] == 1 and sum(r.by_hour) == 3


def test_empty_period_has_no_durations() -> None:
    r = reports.compute([], [])
    assert r.incidents == 0 and r.time_to_acknowledge == reports.Durations(0, None, None, None, None)


def test_pages_count_every_person_named_and_exhaustion_per_incident() -> None:
    incidents = [inc("i1", T0), inc("i2", T0, policy="pol_b")]
    events = [
        ev("i1", T0, "layer_paged", position=1, userIds=["u1", "u2"]),
        ev("i1", T0 + timedelta(minutes=5), "layer_paged", position=2, userIds=["u3"]),
        ev("i1", T0 + timedelta(minutes=10), "escalation_exhausted", layerCount=2),
        ev("i1", T0 + timedelta(minutes=12), "incident_acknowledged"),
        ev("i1", T0 + timedelta(minutes=12), "escalation_acknowledged", position=2),
        ev("i2", T0, "handoff_paged", position=1, userIds=["u1"]),
        ev("i2", T0, "incident_repaged", position=1, userIds=["u1"]),
        ev("i2", T0, "nobody_on_call", position=1),  # not a page
    ]
    r = reports.compute(incidents, events)
    assert r.pages == {"u1": 3, "u2": 1, "u3": 1}
    assert r.exhausted == 1 and r.exhausted_by_policy == {"pol_a": 1} and r.acked_after_exhaustion == 1
    assert r.acked_at_layer == {2: 1}


@pytest.mark.parametrize(
    ("local", "night"),
    [
        # 2026-03-08: New York springs forward at 02:00 (EST -5 -> EDT -4)
        ("2026-03-08T02:59:00Z", False),  # 21:59 EST
        ("2026-03-08T03:00:00Z", True),  # 22:00 EST
        ("2026-03-08T06:59:00Z", True),  # 01:59 EST, just before the change
        ("2026-03-08T07:00:00Z", True),  # 03:00 EDT, just after it
        ("2026-03-08T10:59:00Z", True),  # 06:59 EDT
        ("2026-03-08T11:00:00Z", False),  # 07:00 EDT: night ends on the wall clock, an hour earlier in UTC
        # 2026-11-01: falls back at 02:00 (EDT -4 -> EST -5)
        ("2026-11-01T11:30:00Z", True),  # 06:30 EST
        ("2026-11-01T12:00:00Z", False),  # 07:00 EST
        ("2026-11-01T05:30:00Z", True),  # 01:30 EDT, first time
        ("2026-11-01T06:30:00Z", True),  # 01:30 EST, second time
        ("2026-11-02T01:59:00Z", False),  # 20:59 EST
    ],
)
def test_night_is_read_on_the_wall_clock_across_dst(local: str, night: bool) -> None:
    at = datetime.fromisoformat(local)
    assert reports.is_night(at, "America/New_York") is night
    incidents = [inc("i1", at - timedelta(minutes=1))]
    events = [ev("i1", at, "layer_paged", position=1, userIds=["u1"])]
    r = reports.compute(incidents, events, page_zones={("i1", 1): "America/New_York"})
    assert r.night_pages.get("u1", 0) == (1 if night else 0)
    # the same instant, with no zone for the page: read in UTC
    utc = reports.compute(incidents, events)
    assert utc.night_pages.get("u1", 0) == (1 if reports.is_night(at, "UTC") else 0)


def test_night_window_that_does_not_cross_midnight() -> None:
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert reports.is_night(at, "UTC", time(0, 0), time(6, 0))
    assert not reports.is_night(at, "UTC", time(2, 0), time(6, 0))


def test_the_simulation_uses_the_same_night_and_percentile() -> None:
    """The simulator's precomputed night intervals agree with is_night minute by minute over both DST
    changes, and its defaults are the report's."""
    scenario_default = sim.Scenario(start=T0, end=T0, timezone="UTC", per_week=0)
    assert (scenario_default.night_start, scenario_default.night_end) == (
        reports.NIGHT_START,
        reports.NIGHT_END,
    )
    assert sim.percentile is reports.percentile
    window = sim.Window(frozenset(range(7)), reports.NIGHT_START, reports.NIGHT_END)
    for day in (datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC)):
        start, end = day, day + timedelta(days=2)
        intervals = sim.Intervals(sim.weekly_spans([window], "America/New_York", start, end))
        t = start
        while t < end:
            assert intervals.contains(t) == reports.is_night(t, "America/New_York"), t
            t += timedelta(minutes=15)


def test_page_kinds_are_exactly_the_events_the_engine_pages_with() -> None:
    """Every event the escalation rules attach a page to is one of PAGE_KINDS (what the simulator counts
    as a page is what the report counts)."""
    plan = Policy(
        "pol",
        "P",
        (
            EscalationLayer("l1", 1, 5, Target("users", user_ids=("u1",))),
            EscalationLayer("l2", 2, 5, Target("users", user_ids=("u2",))),
        ),
        repeat=1,
        repage_after_minutes=10,
    )

    def resolve(target: Target, at: datetime) -> tuple[str, ...]:
        return target.user_ids

    seen: set[str] = set()
    kinds_with_page: set[str] = set()
    out = esc.begin(plan, T0, resolve)
    outcomes = [out]
    state = out.state
    now = T0
    for _ in range(6):
        if state.due_at is None:
            break
        now = state.due_at
        out = esc.fire(state, plan, now, resolve)
        outcomes.append(out)
        state = out.state
    outcomes.append(esc.handoff(state, plan, now, "u3"))
    acked = esc.acknowledge(esc.begin(plan, T0, resolve).state, plan, T0, "u1")
    assert acked.state.due_at is not None
    outcomes.append(esc.fire(acked.state, plan, acked.state.due_at, resolve))  # a re-page
    for o in outcomes:
        for e in o.events:
            seen.add(e.kind)
            if e.page is not None:
                kinds_with_page.add(e.kind)
    assert kinds_with_page == reports.PAGE_KINDS
    assert "escalation_exhausted" in seen


def test_format_duration() -> None:
    assert [reports.format_duration(s) for s in (None, 42, 270, 7500, 97200)] == [
        "-",
        "42s",
        "4m 30s",
        "2h 05m",
        "1d 03h",
    ]
