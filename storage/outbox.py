"""The notification outbox: one row per (page, user, contact method), written in the escalation's own
transaction and delivered afterwards by :mod:`storage.delivery`.

Each row carries a UNIQUE idempotency key ``incident:position:round:user:channel`` (plus a discriminator
for re-pages such as a handoff), inserted with ``INSERT OR IGNORE``: a replayed decision cannot create a
second notification. ``round`` is the pass over the policy's layers (0, then 1 for the first repeat loop
or a manual restart from an earlier layer); it is the "loop" of the key.

The ``log`` channel is the default when a user has no contact method: it is delivered by the timeline
event that records the page (the row is written already ``sent``). Other channels start ``pending``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.escalation import Page
from engine.timefmt import to_epoch_ms, to_iso
from storage.db import Database

DEFAULT_CHANNEL = "log"


@dataclass(frozen=True)
class Contact:
    id: str | None  # None for the implicit log channel
    channel: str
    address: str | None = None
    secret: str | None = None

    @property
    def tag(self) -> str:
        """The channel part of the idempotency key: ``log``, or ``webhook/cm_…`` for a contact method."""
        return self.channel if self.id is None else f"{self.channel}/{self.id}"


LOG = Contact(None, DEFAULT_CHANNEL)


def contacts_for(db: Database, user_id: str, cache: dict[str, list[Contact]] | None = None) -> list[Contact]:
    """The user's contact methods in creation order, or the log channel when there are none."""
    if cache is not None and user_id in cache:
        return cache[user_id]
    rows = db.all(
        "SELECT id, channel, address, secret FROM contact_methods WHERE user_id = ? ORDER BY created_at, rowid",
        (user_id,),
    )
    out = [Contact(r["id"], r["channel"], r["address"], r["secret"]) for r in rows] or [LOG]
    if cache is not None:
        cache[user_id] = out
    return out


def idempotency_key(incident_id: str, page: Page, user_id: str, contact: Contact) -> str:
    position = "h" if page.position is None else str(page.position)
    key = f"{incident_id}:{position}:{page.round}:{user_id}:{contact.tag}"
    return key if page.discriminator is None else f"{key}:{page.discriminator}"


def enqueue(
    db: Database,
    now: datetime,
    incident: sqlite3.Row | dict[str, Any],
    page: Page,
    *,
    layer_count: int | None = None,
    cache: dict[str, list[Contact]] | None = None,
) -> list[dict[str, Any]]:
    """Write the outbox rows for ``page``; returns what was queued, for the timeline event."""
    queued: list[dict[str, Any]] = []
    now_iso = to_iso(now)
    now_ms = to_epoch_ms(now)
    for user_id in page.user_ids:
        for contact in contacts_for(db, user_id, cache):
            key = idempotency_key(incident["id"], page, user_id, contact)
            payload = {
                "type": "page",
                "idempotencyKey": key,
                "incident": {
                    "id": incident["id"],
                    "title": incident["title"],
                    "severity": incident["severity"],
                    "status": incident["status"],
                },
                "layer": page.position,
                "layerCount": layer_count,
                "round": page.round,
                "reason": page.reason,
                "userId": user_id,
                "channel": contact.channel,
                "pagedAt": now_iso,
            }
            is_log = contact.id is None
            cur = db.execute(
                "INSERT OR IGNORE INTO outbox (idem_key, org_id, incident_id, layer_position, loop, user_id, "
                "channel, contact_id, payload, status, attempts, next_attempt_ms, created_at, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    incident["org_id"],
                    incident["id"],
                    page.position,
                    page.round,
                    user_id,
                    contact.channel,
                    contact.id,
                    json.dumps(payload, separators=(",", ":")),
                    "sent" if is_log else "pending",
                    1 if is_log else 0,
                    now_ms,
                    now_iso,
                    now_iso if is_log else None,
                ),
            )
            entry: dict[str, Any] = {"userId": user_id, "channel": contact.channel}
            if contact.id is not None:
                entry["contactId"] = contact.id
            if cur.rowcount == 0:
                entry["duplicate"] = True  # already queued by an earlier write of the same page
            queued.append(entry)
    return queued


def pending_count(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'") or 0)
