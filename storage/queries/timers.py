"""Engine timers other than escalation steps (table ``timers``, migration ``0007_timers``).

A timer is one row per ``(kind, subject_id)``: a heartbeat monitor's next deadline, a maintenance window's
end, a notification rule's next step, a shift reminder. ``due_at_ms`` is epoch milliseconds (UTC);
``generation`` grows every time the row is armed again, so whoever fired a timer from an older read can
neither delete nor move the newer arming (:func:`finish`). Every function runs inside the caller's
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from engine.ids import new_id
from engine.timefmt import from_epoch_ms
from storage.db import Database


class Timer(Struct, frozen=True):
    """One armed timer. ``data`` is the kind's own JSON object (``{}`` when none)."""

    id: str
    org_id: str
    kind: str
    subject_id: str
    due_at_ms: int
    generation: int
    data: dict[str, Any]


def _timer(row: sqlite3.Row) -> Timer:
    return Timer(
        id=row["id"],
        org_id=row["org_id"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        due_at_ms=int(row["due_at_ms"]),
        generation=int(row["generation"]),
        data=json.loads(row["data"]),
    )


def arm(
    db: Database,
    *,
    org_id: str,
    kind: str,
    subject_id: str,
    due_at_ms: int,
    data: dict[str, Any] | None = None,
) -> Timer:
    """Arm the ``(kind, subject_id)`` timer at ``due_at_ms`` (epoch ms), creating it or moving it (its
    generation grows either way, and ``data`` replaces the old payload). Returns the armed timer."""
    payload = json.dumps(data or {}, separators=(",", ":"), sort_keys=True)
    row = db.one(
        "INSERT INTO timers (id, org_id, kind, subject_id, due_at_ms, data) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, subject_id) DO UPDATE SET org_id = excluded.org_id, "
        "due_at_ms = excluded.due_at_ms, data = excluded.data, generation = timers.generation + 1 "
        "RETURNING *",
        (new_id("tmr", from_epoch_ms(due_at_ms)), org_id, kind, subject_id, due_at_ms, payload),
    )
    assert row is not None
    return _timer(row)


def disarm(db: Database, kind: str, subject_id: str) -> bool:
    """Remove the ``(kind, subject_id)`` timer; False when none was armed."""
    return db.execute("DELETE FROM timers WHERE kind = ? AND subject_id = ?", (kind, subject_id)).rowcount > 0


def get(db: Database, kind: str, subject_id: str) -> Timer | None:
    """The ``(kind, subject_id)`` timer, or None."""
    row = db.one("SELECT * FROM timers WHERE kind = ? AND subject_id = ?", (kind, subject_id))
    return None if row is None else _timer(row)


def of_kind(db: Database, kind: str, org_id: str | None = None) -> list[Timer]:
    """Every armed ``kind`` timer (of one organisation when ``org_id`` is given), earliest first."""
    if org_id is None:
        rows = db.all("SELECT * FROM timers WHERE kind = ? ORDER BY due_at_ms, id", (kind,))
    else:
        rows = db.all(
            "SELECT * FROM timers WHERE kind = ? AND org_id = ? ORDER BY due_at_ms, id", (kind, org_id)
        )
    return [_timer(r) for r in rows]


_OF_KINDS = "kind IN (SELECT value FROM json_each(?))"


def due(db: Database, now_ms: int, limit: int, kinds: Sequence[str]) -> list[Timer]:
    """At most ``limit`` timers of ``kinds`` due at or before ``now_ms``, earliest first (ties by id)."""
    rows = db.all(
        f"SELECT * FROM timers WHERE due_at_ms <= ? AND {_OF_KINDS} ORDER BY due_at_ms, id LIMIT ?",
        (now_ms, json.dumps(list(kinds)), limit),
    )
    return [_timer(r) for r in rows]


def next_due_ms(db: Database, kinds: Sequence[str]) -> int | None:
    """The earliest due time of any timer of ``kinds`` (epoch ms), or None when none is armed."""
    ms = db.scalar(f"SELECT min(due_at_ms) FROM timers WHERE {_OF_KINDS}", (json.dumps(list(kinds)),))
    return None if ms is None else int(ms)


def overdue_count(db: Database, now_ms: int, kinds: Sequence[str]) -> int:
    """How many timers of ``kinds`` are due at or before ``now_ms``."""
    return int(
        db.scalar(
            f"SELECT count(*) FROM timers WHERE due_at_ms <= ? AND {_OF_KINDS}",
            (now_ms, json.dumps(list(kinds))),
        )
        or 0
    )


def finish(db: Database, timer: Timer, next_due_at_ms: int | None) -> bool:
    """After ``timer`` fired: move it to ``next_due_at_ms``, or delete it when that is None, but only if
    it was not armed again meanwhile (same generation). Returns whether the row was this arming."""
    if next_due_at_ms is None:
        cur = db.execute("DELETE FROM timers WHERE id = ? AND generation = ?", (timer.id, timer.generation))
    else:
        cur = db.execute(
            "UPDATE timers SET due_at_ms = ?, generation = generation + 1 WHERE id = ? AND generation = ?",
            (next_due_at_ms, timer.id, timer.generation),
        )
    return cur.rowcount > 0
