"""The notices queue: messages to a person that belong to no incident (shift reminders), one row per
contact method, written in the engine transaction that decided to send them (table ``notices``,
:mod:`storage.queries.notices`) and delivered by the page queue's loop (:mod:`engine.runtime.delivery`)
with the same channels, timeouts, bounded retries, rate limit and crash rule (a send cut off by a crash
is ``unknown``, never resent). docs/PAGES.md, "Shift reminders".

Each row's idempotency key is the notice's key plus the contact method's tag (``log``, ``webhook/cm_…``),
UNIQUE, inserted with ``INSERT OR IGNORE``: writing the same notice again (a timer fired twice after a
crash, a replayed decision) queues nothing. A person without contact methods gets the ``log`` channel:
the row is written already ``sent`` and the engine's log says it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from engine.runtime.page_queue import DEFAULT_CHANNEL, Contact, contacts_for
from engine.timefmt import to_epoch_ms, to_iso
from storage.db import Database
from storage.queries import notices as rows

log = logging.getLogger("oncall.engine")

__all__ = ["enqueue"]


def enqueue(
    db: Database,
    now: datetime,
    *,
    org_id: str,
    user_id: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    cache: dict[str, list[Contact]] | None = None,
) -> int:
    """Queue the notice ``payload`` (JSON-able; ``type``, ``idempotencyKey``, ``userId`` and ``channel``
    are set here) to every contact method of ``user_id``; returns how many rows were new (0 when the
    notice ``key`` was queued before)."""
    fresh = 0
    now_iso, now_ms = to_iso(now), to_epoch_ms(now)
    for contact in contacts_for(db, user_id, cache):
        row_key = f"{key}:{contact.tag}"
        body = {
            **payload,
            "type": kind,
            "idempotencyKey": row_key,
            "userId": user_id,
            "channel": contact.channel,
        }
        is_log = contact.channel == DEFAULT_CHANNEL
        seq = rows.insert(
            db,
            (
                row_key,
                org_id,
                user_id,
                kind,
                contact.channel,
                contact.id,
                json.dumps(body, separators=(",", ":")),
                "sent" if is_log else "pending",
                1 if is_log else 0,
                now_ms,
                now_iso,
                now_iso if is_log else None,
            ),
        )
        if seq is None:
            continue
        fresh += 1
        if is_log:
            rows.record_event(db, seq, now_iso, "notice_logged", {"channel": contact.channel})
            log.info("%s for %s: %s", kind, user_id, payload.get("text", ""))
    return fresh
