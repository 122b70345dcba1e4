"""The notification outbox: one row per (page, user, contact method), written in the escalation's own
transaction and delivered afterwards by :mod:`engine.runtime.delivery`.

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
from datetime import datetime
from functools import lru_cache
from typing import Any

from msgspec import Struct

from engine.outcome import Page
from engine.timefmt import to_epoch_ms
from engine.timefmt import to_iso as _to_iso
from storage.db import Database
from storage.queries import page_queue as queue_rows
from storage.queries.page_queue import OutboxRow

__all__ = [
    "DEFAULT_CHANNEL",
    "LOG",
    "Contact",
    "OutboxRow",
    "contacts_for",
    "enqueue",
    "idempotency_key",
    "insert_batch",
    "to_iso",
]

DEFAULT_CHANNEL = "log"
to_iso = lru_cache(maxsize=1024)(_to_iso)  # one engine step formats the same instants many times
_epoch_ms = lru_cache(maxsize=256)(to_epoch_ms)  # and every row of a tick has the same instant


class Contact(Struct, frozen=True):
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
    rows = queue_rows.user_contact_rows(db, user_id)
    out = [Contact(r["id"], r["channel"], r["address"], r["secret"]) for r in rows] or [LOG]
    if cache is not None:
        cache[user_id] = out
    return out


def idempotency_key(incident_id: str, page: Page, user_id: str, contact: Contact) -> str:
    position = "h" if page.position is None else str(page.position)
    key = f"{incident_id}:{position}:{page.round}:{user_id}:{contact.tag}"
    return key if page.discriminator is None else f"{key}:{page.discriminator}"


def build_row(
    now: datetime,
    incident: sqlite3.Row | dict[str, Any],
    page: Page,
    user_id: str,
    contact: Contact,
    *,
    layer_count: int | None = None,
    rule: tuple[str, int] | None = None,
) -> tuple[OutboxRow, dict[str, Any]]:
    """One outbox row for ``page`` to ``user_id`` through ``contact`` and its timeline entry.

    ``rule`` is ``(subject, step)`` for a row written by a person's notification rules
    (:mod:`engine.runtime.rule_steps`): the key then ends in ``:step<n>`` and the payload says
    ``ruleStep``.
    """
    now_iso = to_iso(now)
    key = idempotency_key(incident["id"], page, user_id, contact)
    if rule is not None:
        key = f"{key}:step{rule[1]}"
    is_log = contact.channel == DEFAULT_CHANNEL  # the implicit one, or a person's own log method
    # A log row is never sent anywhere: the timeline event is the page, so no payload is kept (or built).
    body = "{}" if is_log else _payload(now_iso, incident, page, key, user_id, contact, layer_count, rule)
    row = (
        key,
        incident["org_id"],
        incident["id"],
        page.position,
        page.round,
        user_id,
        contact.channel,
        contact.id,
        body,
        "sent" if is_log else "pending",
        1 if is_log else 0,
        _epoch_ms(now),
        now_iso,
        now_iso if is_log else None,
        None if rule is None else rule[0],
        None if rule is None else rule[1],
    )
    entry: dict[str, Any] = {"userId": user_id, "channel": contact.channel}
    if contact.id is not None:
        entry["contactId"] = contact.id
    if rule is not None:
        entry["ruleStep"] = rule[1]
    return row, entry


def _payload(
    now_iso: str,
    incident: sqlite3.Row | dict[str, Any],
    page: Page,
    key: str,
    user_id: str,
    contact: Contact,
    layer_count: int | None,
    rule: tuple[str, int] | None,
) -> str:
    """The JSON a receiver gets for one page (see :func:`build_row`)."""
    payload: dict[str, Any] = {
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
    if rule is not None:
        payload["ruleStep"] = rule[1]
    return json.dumps(payload, separators=(",", ":"))


def put(db: Database, row: OutboxRow, entry: dict[str, Any], sink: list[OutboxRow] | None) -> None:
    """Insert ``row`` now (marking ``entry`` a duplicate if its key exists) or append it to ``sink``."""
    if sink is not None:
        sink.append(row)
    elif not queue_rows.insert_row(db, row):
        entry["duplicate"] = True  # already queued by an earlier write of the same page


def enqueue(
    db: Database,
    now: datetime,
    incident: sqlite3.Row | dict[str, Any],
    page: Page,
    *,
    layer_count: int | None = None,
    cache: dict[str, list[Contact]] | None = None,
    sink: list[OutboxRow] | None = None,
) -> list[dict[str, Any]]:
    """Write the outbox rows for ``page`` (every contact method of every person at once); returns what
    was queued, for the timeline event.

    With ``sink`` the rows are appended there instead, for one :func:`insert_batch` before commit (the
    engine's catch-up path); a duplicate is then reported by :func:`insert_batch`.
    """
    queued: list[dict[str, Any]] = []
    for user_id in page.user_ids:
        for contact in contacts_for(db, user_id, cache):
            row, entry = build_row(now, incident, page, user_id, contact, layer_count=layer_count)
            put(db, row, entry, sink)
            queued.append(entry)
    return queued


def insert_batch(db: Database, rows: list[OutboxRow]) -> list[OutboxRow]:
    """Insert buffered rows (``INSERT OR IGNORE``); returns the rows whose key already existed (or
    appeared earlier in ``rows``).

    Optimistic: one ``executemany``, and when it inserted every row (the rule: a key is new) that is
    all. Only when some key was skipped are the keys this insert wrote read back (rows numbered after
    the queue's last ``seq`` read just before it: writers are serialized, so those are this insert's), to
    name the duplicates. Reading the existing keys first cost a 500-key lookup every tick; a savepoint
    to undo the insert cost more (SQLite journals every page it changes)."""
    if not rows:
        return []
    before = queue_rows.last_seq(db)
    if queue_rows.insert_rows(db, rows) == len(rows):
        return []
    inserted = queue_rows.keys_after(db, before)
    seen: set[str] = set()
    dupes = []
    for r in rows:
        if r[0] in seen or r[0] not in inserted:
            dupes.append(r)
        seen.add(r[0])
    return dupes
