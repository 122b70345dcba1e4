"""Read models for the console's hot paths: one query per refresh, no writes ever.

The incident table may hold 10,000 open incidents and refreshes whenever the database changes, so it reads
the few columns it shows in one query instead of calling ``get_incident`` per row. The rows come from
:mod:`engine.service.readmodel`; everything that changes data goes through :mod:`engine.service`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.terminal import terminal_text
from engine.service import Ctx, readmodel
from engine.service.database import Database
from engine.service.orgs import active_user_ids, display_name, people
from engine.timefmt import parse_iso


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One line of the live incident table. Equal rows need no repaint."""

    id: str
    seq: int
    title: str
    severity: str
    status: str
    owner_id: str | None
    acknowledged_by: str | None
    created_at: str
    esc_state: str | None
    layer: int | None  # 1-based layer currently paged
    layer_count: int | None
    due_ms: int | None
    is_drill: bool = False  # a rehearsal (console drills come from a scratch copy, never the live table)
    alert_count: int | None = None  # alerts received on the incident; None when alerts did not open it

    @property
    def due(self) -> datetime | None:
        return None if self.due_ms is None else datetime.fromtimestamp(self.due_ms / 1000, UTC)

    @property
    def created(self) -> datetime:
        return parse_iso(self.created_at)


def _layer_count(snapshot: str | None, cache: dict[str, int | None]) -> int | None:
    if snapshot is None:
        return None
    if snapshot in cache:
        return cache[snapshot]
    try:
        data: Any = json.loads(snapshot)
    except ValueError:
        data = None
    layers = data.get("layers") if isinstance(data, dict) else data
    count = len(layers) if isinstance(layers, list) else None
    cache[snapshot] = count
    return count


def _rows(rows: list[Any]) -> dict[str, IncidentRow]:
    out: dict[str, IncidentRow] = {}
    counts: dict[str, int | None] = {}
    for r in rows:
        state = r["esc_state"]
        # Only a timeout (the next layer) or a snooze's end is "the next escalation"; a re-page is not.
        due = r["due_at_ms"] if r["due_kind"] in ("timeout", "snooze_end") else None
        step = r["esc_step"]
        out[r["id"]] = IncidentRow(
            id=r["id"],
            seq=r["seq"],
            title=terminal_text(r["title"]),
            severity=r["severity"],
            status=r["status"],
            owner_id=r["owner_id"],
            acknowledged_by=r["acknowledged_by"],
            created_at=r["created_at"],
            esc_state=state,
            layer=None if step is None else int(step) + 1,
            layer_count=_layer_count(r["policy_snapshot"], counts),
            due_ms=due,
            is_drill=bool(r["is_drill"]),
            alert_count=r["alert_count"],
        )
    return out


def open_incidents(db: Database, org_id: str) -> tuple[dict[str, IncidentRow], int]:
    """Every open incident of the organisation with its escalation position, keyed by id, and the
    timeline position the read is consistent with (one read transaction)."""
    rows, position = readmodel.open_incidents(db, org_id)
    return _rows(rows), position


def first_open_incidents(db: Database, org_id: str, limit: int) -> tuple[dict[str, IncidentRow], int]:
    """The ``limit`` open incidents the table shows first (by severity, then newest first), keyed by id,
    and the timeline position the read is consistent with: the first screenful, before the rest loads."""
    rows, position = readmodel.first_open_incidents(db, org_id, limit)
    return _rows(rows), position


def resolved_incidents(db: Database, org_id: str, limit: int) -> dict[str, IncidentRow]:
    """The ``limit`` newest resolved incidents, keyed by id (the incidents screen's history views)."""
    return _rows(readmodel.resolved_incidents(db, org_id, limit))


def my_open_incidents(db: Database, org_id: str, user_id: str) -> dict[str, IncidentRow]:
    """Open incidents ``user_id`` owns or was paged for, keyed by id."""
    return _rows(readmodel.my_open_incidents(db, org_id, user_id))


def some_incidents(db: Database, org_id: str, ids: list[str]) -> dict[str, IncidentRow]:
    """The rows of ``ids`` (resolved ones included), keyed by id: how a drill's scratch copy is read."""
    return _rows(readmodel.some_incidents(db, org_id, ids))


def changed_incidents(db: Database, org_id: str, since: int) -> tuple[dict[str, IncidentRow | None], int]:
    """Incidents with timeline events after ``since``: their new rows, or None once resolved.

    The live table's hot path: a change touches a handful of incidents, so this reads a handful of rows
    however many incidents are open. Returns the new timeline position too.
    """
    ids, rows, position = readmodel.changed_incidents(db, org_id, since)
    found = _rows(rows)
    changes: dict[str, IncidentRow | None] = {}
    for iid in ids:
        row = found.get(iid)
        changes[iid] = row if row is not None and row.status != "resolved" else None
    return changes, position


def alerts_mark(db: Database, org_id: str) -> str:
    """Where :func:`changed_alert_counts` starts (read it before the full read it follows)."""
    return readmodel.alerts_mark(db, org_id)


def changed_alert_counts(db: Database, org_id: str, since: str) -> tuple[dict[str, IncidentRow | None], str]:
    """Incidents whose alert count may have moved since the mark ``since``: their new rows, or None once
    resolved, and the next mark. A repeated alert adds no timeline event, so :func:`changed_incidents`
    alone would not see it."""
    rows, mark = readmodel.changed_alert_groups(db, org_id, since)
    return {key: row if row.status != "resolved" else None for key, row in _rows(rows).items()}, mark


class Directory:
    """User names by id for one organisation, re-read only when asked (people rarely change mid-incident)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.full: dict[str, str] = {}
        self.short: dict[str, str] = {}
        self.reload()

    def reload(self) -> None:
        self.full = {}
        self.short = {}
        for r in people(self.ctx):
            first, last = r["firstName"] or "", r["lastName"] or ""
            name = terminal_text(display_name(r))
            self.full[r["id"]] = name
            short = f"{first} {last[:1]}." if first and last else name
            self.short[r["id"]] = terminal_text(short)

    def people(self) -> list[tuple[str, str]]:
        """(name, id) of the organisation's current members, by name: what pickers and forms offer."""
        ids = active_user_ids(self.ctx)
        return sorted(((self.name(uid), uid) for uid in ids), key=lambda p: (p[0].lower(), p[1]))

    def name(self, user_id: str | None, *, short: bool = False) -> str:
        if user_id is None:
            return "—"
        table = self.short if short else self.full
        if user_id not in table:
            self.reload()
        return table.get(user_id, user_id)
