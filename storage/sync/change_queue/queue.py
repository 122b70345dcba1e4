"""Reading the change queue: a change's wire form, the open changes, the counts a status line shows."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from engine.clock import Clock
from engine.errors import DomainError, NotFound
from engine.timefmt import to_iso
from storage.db import Database

OPEN_STATUSES = ("pending", "sending", "failed", "uncertain")
"""Changes not yet on the remote (``uncertain``: may be, and the user decides)."""
OPEN_SQL = "('pending', 'sending', 'failed', 'uncertain')"
HELD_STATUSES = ("failed", "uncertain")
"""Changes waiting for the user; they hold back later changes to their object."""


def change_wire(row: sqlite3.Row) -> dict[str, Any]:
    """One ``sync_outbox`` row in wire form: ``{id, kind, objectId, rootId, status, attempts, payload,
    error: {statusCode, code, message, requestId} | None, remoteId, createdAt, sentAt, candidates,
    sendWindow: {start, end} | None}``."""
    error = None
    if row["error_code"] is not None or row["error_message"] is not None:
        error = {
            "statusCode": row["error_status"],
            "code": row["error_code"],
            "message": row["error_message"],
            "requestId": row["request_id"],
        }
    return {
        "id": row["id"],
        "kind": row["kind"],
        "objectId": row["object_id"],
        "rootId": row["root_id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "payload": json.loads(row["payload"]),
        "error": error,
        "remoteId": row["remote_id"],
        "createdAt": row["created_at"],
        "sentAt": row["sent_at"],
        "candidates": json.loads(row["candidates"]) if row["candidates"] else [],
        "sendWindow": (
            {"start": row["window_start"], "end": row["window_end"]} if row["window_start"] else None
        ),
    }


def list_changes(db: Database, org_id: str, *, include_done: bool = False) -> list[dict[str, Any]]:
    """The organisation's changes in queue order (open ones only unless ``include_done``), wire form."""
    sql = "SELECT * FROM sync_outbox WHERE org_id = ?"
    if not include_done:
        sql += f" AND status IN {OPEN_SQL}"
    return [change_wire(r) for r in db.all(sql + " ORDER BY seq", (org_id,))]


def waiting_count(db: Database, org_id: str) -> int:
    """How many of the organisation's changes are waiting to be sent (``pending`` or ``sending``); failed
    and uncertain changes wait for a person (retry, discard, adopt) and are counted apart
    (:func:`failed_changes`, :func:`uncertain_changes`), never as waiting."""
    return int(
        db.scalar(
            "SELECT count(*) FROM sync_outbox WHERE org_id = ? AND status IN ('pending', 'sending')",
            (org_id,),
        )
    )


def failed_changes(db: Database, org_id: str) -> list[dict[str, Any]]:
    """Changes the remote refused, waiting for the user, in queue order."""
    rows = db.all("SELECT * FROM sync_outbox WHERE org_id = ? AND status = 'failed' ORDER BY seq", (org_id,))
    return [change_wire(r) for r in rows]


def uncertain_changes(db: Database, org_id: str) -> list[dict[str, Any]]:
    """Creates that may or may not be on the remote, waiting for the user (with their ``candidates``)."""
    rows = db.all(
        "SELECT * FROM sync_outbox WHERE org_id = ? AND status = 'uncertain' ORDER BY seq", (org_id,)
    )
    return [change_wire(r) for r in rows]


def uncertain_candidate_ids(db: Database, org_id: str) -> set[str]:
    """Remote ids that an uncertain change may have created: a pull does not import them meanwhile."""
    return {str(c["id"]) for change in uncertain_changes(db, org_id) for c in change["candidates"]}


def pending_roots(db: Database, org_id: str) -> set[str]:
    """Objects with changes not yet on the remote: a pull leaves them alone until they are."""
    rows = db.all(
        f"SELECT DISTINCT root_id, object_id FROM sync_outbox WHERE org_id = ? AND status IN {OPEN_SQL}",
        (org_id,),
    )
    return {r["root_id"] for r in rows} | {r["object_id"] for r in rows}


def open_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The open changes' rows in queue order (what a push walks)."""
    return db.all(
        f"SELECT * FROM sync_outbox WHERE org_id = ? AND status IN {OPEN_SQL} ORDER BY seq", (org_id,)
    )


def change_row(db: Database, org_id: str, change_id: str) -> sqlite3.Row:
    """One change's row; raises NotFound (404) outside the organisation."""
    row = db.one("SELECT * FROM sync_outbox WHERE org_id = ? AND id = ?", (org_id, change_id))
    if row is None:
        raise NotFound("sync change", change_id)
    return row


def held_row(db: Database, org_id: str, change_id: str) -> sqlite3.Row:
    """A change the user may settle: raises ``not_failed`` unless it is failed or uncertain."""
    row = change_row(db, org_id, change_id)
    if row["status"] not in HELD_STATUSES:
        raise DomainError("not_failed", f"change {change_id} is {row['status']}, not failed or uncertain")
    return row


def mark(db: Database, seq: int, **values: Any) -> None:
    """Set columns of one change in its own write transaction."""
    with db.write():
        db.update("sync_outbox", "seq", seq, values)


def mark_done(db: Database, seq: int, remote_id: str | None, clock: Clock) -> None:
    """Inside the caller's transaction: the change is on the remote, sent at ``clock.now()``."""
    db.update(
        "sync_outbox",
        "seq",
        seq,
        {
            "status": "done",
            "uncertain": 0,
            "remote_id": remote_id,
            "sent_at": to_iso(clock.now()),
            "error_status": None,
            "error_code": None,
            "error_message": None,
            "request_id": None,
        },
    )
