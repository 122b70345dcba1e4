"""The report of a period (``oncall report``, the console's reports screen): read the incidents opened in
the window and their timeline events (storage/queries/reports.py, by time index), compute the figures with
the pure :mod:`engine.reports` (the definitions ``oncall simulate`` uses) and answer in wire form.

Wire form (docs/REPORTS.md has every key)::

    {"from", "to", "timezone", "night": {"start", "end"}, "incidents", "bySeverity": {sev: n},
     "byPolicy": [{"policyId", "policy", "incidents", "exhausted"}], "acknowledged", "resolved",
     "timeToAcknowledgeSeconds": {"count", "mean", "p50", "p95", "max"}, "timeToResolveSeconds": {…},
     "ackedAtLayer": {"1": n}, "exhausted", "ackedAfterExhaustion",
     "people": [{"userId", "name", "pages", "nightPages"}], "busiestHours": [n × 24]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine import reports
from engine.errors import ValidationError
from engine.service import Ctx
from engine.service.orgs import user_names
from engine.snapshot import policy_from_json
from engine.timefmt import parse_iso, to_iso
from engine.timeparse import parse_local_instant, validate_timezone
from storage.queries import policies as policy_queries
from storage.queries import reports as queries

DEFAULT_DAYS = 28
"""Without ``--from``, a report covers the 28 days before its end (a simulation's default period)."""
NO_POLICY = "(no policy)"


@dataclass(frozen=True)
class Period:
    """A report's window ``[start, end)``, aware UTC instants, and the zone its hours are read in."""

    start: datetime
    end: datetime
    zone: str


def _bound(text: str, zone: str, now: datetime, field: str, *, end: bool) -> datetime:
    try:
        instant = parse_local_instant(text, zone, now=now, words=("now", "today")).instant
    except ValueError as exc:
        raise ValidationError(f"{field} {exc}", field=field) from None
    if end:
        try:
            date.fromisoformat(text.strip())
        except ValueError:
            return instant
        return instant + timedelta(days=1)  # a bare date as the end: that whole day is included
    return instant


def period(ctx: Ctx, start: str | None = None, end: str | None = None, zone: str = "UTC") -> Period:
    """The window people asked for: ``end`` defaults to now, ``start`` to :data:`DEFAULT_DAYS` before the
    end. Each bound is a date (midnight in ``zone``; a date as ``end`` includes that day), a local date and
    time in ``zone``, an ISO 8601 instant, ``now`` or ``today``. Raises :class:`ValidationError` (field
    ``--from``, ``--to`` or ``--tz``) for an unreadable bound, an unknown zone, or an empty window."""
    try:
        validate_timezone(zone)
    except ValueError as exc:
        raise ValidationError(f"--tz {exc}", field="--tz") from None
    now = ctx.now()
    stop = now if end is None else _bound(end, zone, now, "--to", end=True)
    begin = (
        stop - timedelta(days=DEFAULT_DAYS)
        if start is None
        else _bound(start, zone, now, "--from", end=False)
    )
    if begin >= stop:
        raise ValidationError("--from must be before --to", field="--from")
    return Period(begin, stop, zone)


def compute(ctx: Ctx, window: Period) -> reports.Report:
    """The pure report of the window (ids, not names): one read transaction."""
    start, end = to_iso(window.start), to_iso(window.end)
    with ctx.db.read():
        rows = queries.opened_incidents(ctx.db, ctx.org_id, start, end)
        events = queries.window_events(ctx.db, ctx.org_id, start, end, reports.REPORT_KINDS)
        snapshots = queries.escalation_snapshots(ctx.db, ctx.org_id, start, end)
        zones = queries.schedule_zones(ctx.db, ctx.org_id)
    incidents = [
        reports.IncidentFacts(
            r["id"], r["seq"], r["severity"], r["escalation_policy_id"], parse_iso(r["created_at"])
        )
        for r in rows
    ]
    facts = [
        reports.TimelineFact(r["incident_id"], parse_iso(r["at"]), r["kind"], json.loads(r["data"]))
        for r in events
    ]
    page_zones: dict[tuple[str, int], str] = {}
    for r in snapshots:
        for layer in policy_from_json(json.loads(r["policy_snapshot"])).layers:
            sid = layer.target.schedule_id
            if layer.target.type == "schedule" and sid in zones:
                page_zones[(r["incident_id"], layer.position)] = zones[sid]
    return reports.compute(incidents, facts, zone=window.zone, page_zones=page_zones)


def _seconds(d: reports.Durations) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {"count": d.count, "mean": r(d.mean), "p50": r(d.p50), "p95": r(d.p95), "max": r(d.max)}


def report_wire(ctx: Ctx, window: Period, report: reports.Report) -> dict[str, Any]:
    """The report in wire form (camelCase, names beside ids): what ``oncall report --json`` prints."""
    with ctx.db.read():
        policy_names = {r["id"]: r["name"] for r in policy_queries.policy_rows(ctx.db, ctx.org_id)}
        names = user_names(ctx)

    def policy_name(pid: str | None) -> str:
        if pid is None:
            return NO_POLICY
        return policy_names.get(pid, pid)

    by_policy = sorted(report.by_policy.items(), key=lambda kv: (-kv[1], policy_name(kv[0])))
    people = sorted(report.pages, key=lambda u: (-report.pages[u], names.get(u, u), u))
    return {
        "from": to_iso(window.start),
        "to": to_iso(window.end),
        "timezone": window.zone,
        "night": {"start": f"{reports.NIGHT_START:%H:%M}", "end": f"{reports.NIGHT_END:%H:%M}"},
        "incidents": report.incidents,
        "bySeverity": dict(report.by_severity),
        "byPolicy": [
            {
                "policyId": pid,
                "policy": policy_name(pid),
                "incidents": n,
                "exhausted": report.exhausted_by_policy.get(pid, 0),
            }
            for pid, n in by_policy
        ],
        "acknowledged": report.acknowledged,
        "resolved": report.resolved,
        "timeToAcknowledgeSeconds": _seconds(report.time_to_acknowledge),
        "timeToResolveSeconds": _seconds(report.time_to_resolve),
        "ackedAtLayer": {str(k): v for k, v in sorted(report.acked_at_layer.items())},
        "exhausted": report.exhausted,
        "ackedAfterExhaustion": report.acked_after_exhaustion,
        "people": [
            {
                "userId": u,
                "name": names.get(u, u),
                "pages": report.pages[u],
                "nightPages": report.night_pages.get(u, 0),
            }
            for u in people
        ],
        "busiestHours": list(report.by_hour),
    }


def report(ctx: Ctx, start: str | None = None, end: str | None = None, zone: str = "UTC") -> dict[str, Any]:
    """The report of ``[start, end)`` in wire form (see the module docstring); bounds as :func:`period`.
    Raises :class:`ValidationError` for unreadable bounds or zone."""
    window = period(ctx, start, end, zone)
    return report_wire(ctx, window, compute(ctx, window))
