"""Who we are on the remote, and proof of authorship: settling a create whose outcome is unknown.

A create whose previous attempt may have reached the remote adopts a remote object only on proof that this
change made it: same content (the kind's candidates, :mod:`.kinds`), created by the key's own remote user
(learned from the answers to our earlier creates), inside the send window give or take
:data:`CLOCK_SKEW_MS`, the only one, and not linked to any other local object.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from engine.clock import WallClock
from engine.timefmt import parse_iso, to_epoch_ms, to_iso
from storage.db import Database

if TYPE_CHECKING:
    from storage.sync.client import ScalingClient

CLOCK_SKEW_MS = 60_000
"""How far the remote's clock may be from ours when a send window is compared with a ``createdAt``."""

_wall = WallClock()


class Uncertain(Exception):
    """Reconcile could not prove which remote object, if any, an uncertain create made."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(candidates)} candidate(s)")
        self.candidates = candidates


def _creator(obj: dict[str, Any]) -> str | None:
    """Who made a remote object: ``createdBy`` (policies, schedules, incidents) or ``postedBy.id``."""
    by = obj.get("createdBy")
    if by is None:
        posted = obj.get("postedBy")
        by = posted.get("id") if isinstance(posted, dict) else posted
    return None if by is None else str(by)


def _created_ms(obj: dict[str, Any]) -> int | None:
    value = obj.get("createdAt") or obj.get("postedAt")
    if not isinstance(value, str):
        return None
    try:
        return to_epoch_ms(parse_iso(value))
    except ValueError:
        return None


def learn_actor(db: Database, org_id: str, client: ScalingClient, data: Any) -> None:
    """Remember the creator the remote recorded for one of our own creates (``data``), for the current key.

    Inside the caller's transaction. (An adopted object's creator is already known: adoption needs it.)
    """
    if not isinstance(data, dict):
        return
    actor = _creator(data)
    if actor is None:
        return
    known = _actor_record(db, org_id)
    ids = set(known["ids"]) if known.get("key") == client.key_fingerprint else set()
    if actor in ids:
        return
    record = {"key": client.key_fingerprint, "ids": sorted(ids | {actor})}
    db.execute(
        "UPDATE sync_config SET remote_actor = ? WHERE org_id = ?",
        (json.dumps(record, separators=(",", ":")), org_id),
    )


def _actor_record(db: Database, org_id: str) -> dict[str, Any]:
    raw = db.scalar("SELECT remote_actor FROM sync_config WHERE org_id = ?", (org_id,))
    value = json.loads(raw) if raw else {}
    return value if isinstance(value, dict) else {}


def own_actor_ids(db: Database, org_id: str, client: ScalingClient) -> set[str] | None:
    """The remote user (or key) ids our key creates objects as; None until a create has told us."""
    record = _actor_record(db, org_id)
    if record.get("key") != client.key_fingerprint or not record.get("ids"):
        return None
    return {str(i) for i in record["ids"]}


def _window_ms(row: sqlite3.Row) -> tuple[int, int]:
    """When an uncertain attempt may have been applied: wall-clock ms, widened by the clock skew."""
    start = row["window_start"] or row["attempt_at"] or row["created_at"]
    end = row["window_end"] or to_iso(_wall.now())
    return (
        to_epoch_ms(parse_iso(start)) - CLOCK_SKEW_MS,
        to_epoch_ms(parse_iso(end)) + CLOCK_SKEW_MS,
    )


def judge(
    db: Database, client: ScalingClient, row: sqlite3.Row, matches: list[dict[str, Any]]
) -> tuple[str | None, Any] | None:
    """Of the unlinked remote objects with this create's content: ``(remote id, object)`` for the one
    proven ours, or None when none can be ours (send again); raises :class:`Uncertain` when it cannot
    tell."""
    if not matches:
        return None
    own = own_actor_ids(db, row["org_id"], client)
    lo, hi = _window_ms(row)

    def ours(m: dict[str, Any]) -> bool:
        at = _created_ms(m)
        return own is not None and _creator(m) in own and at is not None and lo <= at <= hi

    def not_ours(m: dict[str, Any]) -> bool:
        by, at = _creator(m), _created_ms(m)
        if own is None or by is None:
            return False
        return by not in own or (at is not None and not lo <= at <= hi)

    proven = [m for m in matches if ours(m)]
    if len(proven) == 1:
        return str(proven[0]["id"]), proven[0]
    if not proven and all(not_ours(m) for m in matches):
        return None
    shown = proven or matches
    raise Uncertain(
        [
            {
                "id": str(m["id"]),
                "createdBy": _creator(m),
                "createdAt": m.get("createdAt") or m.get("postedAt"),
            }
            for m in shown
        ]
    )
