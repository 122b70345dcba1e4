"""Queueing a change in the transaction that made it, and refusing local edits the queue cannot send."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from engine.errors import DomainError
from engine.ids import new_id
from engine.service import Ctx
from engine.timefmt import to_iso
from storage.db import Database
from storage.sync.change_queue.kinds import CHANGE_KINDS
from storage.sync.change_queue.remote_ids import origin

_applying_remote: ContextVar[bool] = ContextVar("oncall_sync_applying_remote", default=False)


@contextmanager
def applying_remote() -> Iterator[None]:
    """Changes made inside come from the remote (a pull): they are not queued for pushing back."""
    token = _applying_remote.set(True)
    try:
        yield
    finally:
        _applying_remote.reset(token)


def linked(db: Database, org_id: str) -> bool:
    """Is the organisation linked to a remote (``oncall sync login``)?"""
    return db.one("SELECT 1 FROM sync_config WHERE org_id = ?", (org_id,)) is not None


class SyncedObjectReadOnly(DomainError):
    """A local edit to an object the remote manages and the change queue cannot send (409)."""

    status_code = 409

    def __init__(self, what: str) -> None:
        super().__init__(
            "synced_object_read_only",
            f"this {what} is managed by Scaling; change it there (the next pull would undo a local edit)",
        )


def refuse_local_edit(ctx: Ctx, table: str, object_id: str, what: str) -> None:
    """Inside a service mutation: refuse to change ``object_id`` when it came from the linked remote.

    Schedules (with their rotation layers and overrides) and people are pulled but not pushed; an edit
    here would silently be overwritten by the next pull, so it is refused with 409
    ``synced_object_read_only``. Pulls (:func:`applying_remote`) and unlinked organisations pass.
    """
    if _applying_remote.get() or not linked(ctx.db, ctx.org_id):
        return
    if origin(ctx.db, table, object_id) == "remote":
        raise SyncedObjectReadOnly(what)


def record_change(
    ctx: Ctx, kind: str, object_id: str, payload: Any = None, *, root_id: str | None = None
) -> bool:
    """Queue a change for the remote, inside the caller's transaction. True when queued.

    ``object_id`` is the local id of the object changed (for ``layer.reorder`` the policy); ``root_id``
    the object it belongs to (a layer's policy, an update's incident), which orders and blocks changes.
    Whether the change goes to the remote, and with what payload, is the kind's ``record`` rule
    (:data:`storage.sync.change_queue.kinds.CHANGE_KINDS`). Raises ValueError for an unknown kind.
    """
    change_kind = CHANGE_KINDS.get(kind)
    if change_kind is None:
        raise ValueError(f"unknown sync change kind {kind!r}")
    if _applying_remote.get():
        return False
    db = ctx.db
    if not linked(db, ctx.org_id):
        return False
    root = root_id or object_id
    body = change_kind.record(db, object_id, root, dict(payload) if isinstance(payload, dict) else {})
    if body is None:
        return False
    now = ctx.now()
    change_id = new_id("chg", now)
    db.insert(
        "sync_outbox",
        {
            "id": change_id,
            "org_id": ctx.org_id,
            "kind": kind,
            "root_id": root,
            "object_id": object_id,
            "payload": json.dumps(body, separators=(",", ":"), sort_keys=True),
            "idem_key": f"oncall-{change_id}-{os.urandom(8).hex()}",
            "status": "pending",
            "created_at": to_iso(now),
        },
    )
    return True
