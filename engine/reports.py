"""Reports: the figures of a period, computed from the real incident timeline. Pure: no I/O, no clock.

The definitions are the ones ``oncall simulate`` reports (engine/simulation.py, docs/SIMULATION.md), and
the shared parts live here so both use them:

* **time to acknowledge** of an incident: from its opening to its first acknowledgement (an
  acknowledgement after the policy was exhausted counts); MTTA is the mean, p50/p95/max the nearest-rank
  :func:`percentile`;
* **time to resolve** (live data only; a simulated incident is handled once acknowledged): from its
  opening to the first status change to ``resolved``; MTTR is the mean;
* a **page** is one person named by an event that carries a page (:data:`PAGE_KINDS`: the escalation
  engine attaches a ``Page`` to exactly these kinds, and the simulator counts exactly those ``Page``\\ s);
  every person the event names counts one page;
* a **night page** is a page whose instant, on the paged person's wall clock, lies in the night window
  (:data:`NIGHT_START` to :data:`NIGHT_END`, 22:00-07:00 by default; :func:`is_night`);
* an **exhausted** incident is one whose escalation ran out of layers (an ``escalation_exhausted`` event);
* **busiest hours**: incidents opened in each hour of the day, on the report's zone's wall clock.

:func:`compute` takes the incidents opened in the period and their timeline events up to the period's
end (events after it are not the period's) and returns a :class:`Report`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "NIGHT_END",
    "NIGHT_START",
    "PAGE_KINDS",
    "SEVERITIES",
    "Durations",
    "IncidentFacts",
    "Report",
    "TimelineFact",
    "compute",
    "durations",
    "format_duration",
    "is_night",
    "percentile",
]

NIGHT_START = time(22, 0)
NIGHT_END = time(7, 0)
PAGE_KINDS: frozenset[str] = frozenset({"layer_paged", "handoff_paged", "incident_repaged"})
"""The timeline kinds that page people (``data.userIds``): the events ``engine.escalation`` gives a Page."""
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
ACK_KIND = "incident_acknowledged"
EXHAUSTED_KIND = "escalation_exhausted"
LAYER_ACK_KIND = "escalation_acknowledged"
STATUS_KIND = "status_changed"
REPORT_KINDS: tuple[str, ...] = (*sorted(PAGE_KINDS), ACK_KIND, EXHAUSTED_KIND, LAYER_ACK_KIND, STATUS_KIND)
"""Every timeline kind :func:`compute` reads (a storage query can select only these)."""


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (``q`` in 0..100); None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def is_night(at: datetime, zone: str, start: time = NIGHT_START, end: time = NIGHT_END) -> bool:
    """Whether the aware instant ``at`` is at night on ``zone``'s wall clock: local time in ``[start,
    end)``, a window that runs past midnight when ``end <= start``. Read on the wall clock, so across a
    DST change the night is still 22:00 to 07:00 local (one hour shorter or longer in real time)."""
    local = at.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if end > start:
        return start <= local < end
    return local >= start or local < end


def format_duration(seconds: float | None) -> str:
    """A duration for people: ``4m 30s``, ``2h 05m``, ``1d 03h``; ``-`` for None."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600:02d}h"


@dataclass(frozen=True)
class IncidentFacts:
    """An incident opened in the period: ``opened_at`` aware; ``policy_id`` None when it pages nobody."""

    id: str
    number: int
    severity: str
    policy_id: str | None
    opened_at: datetime


@dataclass(frozen=True)
class TimelineFact:
    """One timeline event (``at`` aware; ``data`` the event's JSON object, camelCase keys)."""

    incident_id: str
    at: datetime
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Durations:
    """Seconds: how many, the mean and nearest-rank p50/p95/max (None when there are none)."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    max: float | None


def durations(values: Iterable[float]) -> Durations:
    """:class:`Durations` of a set of durations in seconds."""
    xs = sorted(values)
    mean = sum(xs) / len(xs) if xs else None
    return Durations(len(xs), mean, percentile(xs, 50), percentile(xs, 95), percentile(xs, 100))


@dataclass
class Report:
    """The figures of a period. Counts are plain ints; dict keys are ids (names are the caller's)."""

    incidents: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    by_policy: dict[str | None, int] = field(default_factory=dict)  # None: incidents with no policy
    acknowledged: int = 0
    resolved: int = 0
    time_to_acknowledge: Durations = field(default_factory=lambda: durations(()))
    time_to_resolve: Durations = field(default_factory=lambda: durations(()))
    acked_at_layer: dict[int, int] = field(default_factory=dict)
    exhausted: int = 0
    acked_after_exhaustion: int = 0
    exhausted_by_policy: dict[str | None, int] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)  # user id -> pages
    night_pages: dict[str, int] = field(default_factory=dict)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)  # incidents opened, local hour 0..23


def compute(
    incidents: Iterable[IncidentFacts],
    events: Iterable[TimelineFact],
    *,
    zone: str = "UTC",
    page_zones: Mapping[tuple[str, int], str] | None = None,
    night_start: time = NIGHT_START,
    night_end: time = NIGHT_END,
) -> Report:
    """The figures of the incidents opened in a period, from their timeline events.

    ``events`` may hold other incidents' events and other kinds: they are ignored. ``zone`` is the wall
    clock of the busiest hours. ``page_zones`` maps ``(incident id, layer position)`` to the zone of the
    person paged there (the zone of the schedule they were paged through); a page with no entry is read
    in UTC. Raises ``ZoneInfoNotFoundError`` for an unknown zone name.
    """
    report = Report()
    zones = page_zones or {}
    tz = ZoneInfo(zone)
    opened: dict[str, IncidentFacts] = {}
    for inc in incidents:
        opened[inc.id] = inc
        report.incidents += 1
        report.by_severity[inc.severity] = report.by_severity.get(inc.severity, 0) + 1
        report.by_policy[inc.policy_id] = report.by_policy.get(inc.policy_id, 0) + 1
        report.by_hour[inc.opened_at.astimezone(tz).hour] += 1
    first_ack: dict[str, datetime] = {}
    first_resolve: dict[str, datetime] = {}
    first_exhausted: dict[str, datetime] = {}
    layer_acked: set[str] = set()
    for ev in sorted((e for e in events if e.incident_id in opened), key=lambda e: e.at):
        kind, iid = ev.kind, ev.incident_id
        if kind in PAGE_KINDS:
            zone_of = zones.get((iid, int(ev.data.get("position") or 0)), "UTC")
            night = is_night(ev.at, zone_of, night_start, night_end)
            for uid in ev.data.get("userIds") or ():
                report.pages[uid] = report.pages.get(uid, 0) + 1
                if night:
                    report.night_pages[uid] = report.night_pages.get(uid, 0) + 1
        elif kind == ACK_KIND:
            first_ack.setdefault(iid, ev.at)
        elif kind == STATUS_KIND:
            if ev.data.get("toStatus") == "resolved":
                first_resolve.setdefault(iid, ev.at)
        elif kind == EXHAUSTED_KIND:
            first_exhausted.setdefault(iid, ev.at)
        elif kind == LAYER_ACK_KIND:
            position = int(ev.data.get("position") or 0)
            if position and iid not in layer_acked:  # the acknowledgement that stopped the paging
                layer_acked.add(iid)
                report.acked_at_layer[position] = report.acked_at_layer.get(position, 0) + 1
    report.acknowledged = len(first_ack)
    report.resolved = len(first_resolve)
    report.time_to_acknowledge = durations(
        (at - opened[i].opened_at).total_seconds() for i, at in first_ack.items()
    )
    report.time_to_resolve = durations(
        (at - opened[i].opened_at).total_seconds() for i, at in first_resolve.items()
    )
    for iid, at in first_exhausted.items():
        report.exhausted += 1
        pid = opened[iid].policy_id
        report.exhausted_by_policy[pid] = report.exhausted_by_policy.get(pid, 0) + 1
        ack = first_ack.get(iid)
        if ack is not None and ack >= at:
            report.acked_after_exhaustion += 1
    return report
