"""What the user does with a held change: retry it, discard it, or adopt a remote object for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.clock import Clock
from engine.errors import DomainError, NotFound
from storage.db import Database
from storage.sync.change_queue.kinds import CHANGE_KINDS, apply_answer
from storage.sync.change_queue.queue import HELD_STATUSES, change_row, change_wire, held_row, mark_done
from storage.sync.change_queue.record import applying_remote
from storage.sync.change_queue.remote_ids import linked_local_id

if TYPE_CHECKING:
    from storage.sync.client import ScalingClient


def retry_change(db: Database, org_id: str, change_id: str) -> dict[str, Any]:
    """Put a failed or uncertain change back in the queue, in its original place.

    An uncertain create is then sent again as it is, without looking for it on the remote: the user
    accepts a possible duplicate rather than taking someone else's object. Returns the change's wire form;
    raises NotFound (404), ``not_failed`` for a change that is neither failed nor uncertain.
    """
    with db.write():
        row = held_row(db, org_id, change_id)
        values: dict[str, Any] = {"status": "pending"}
        if row["status"] == "uncertain":
            values.update(uncertain=0, candidates=None, window_start=None, window_end=None)
        db.update("sync_outbox", "id", change_id, values)
        return change_wire(change_row(db, org_id, change_id))


def discard_change(
    db: Database, org_id: str, change_id: str, *, clock: Clock | None = None
) -> dict[str, Any]:
    """Give up a failed or uncertain change; the next pull puts the remote's version back.

    Discarding a create also discards the later changes to that object, and the object stays local-only;
    an incident that will never reach the remote is then paged by the local engine, from now. (An
    uncertain create the remote did apply then comes back with the next pull as the remote's object.)
    Returns the change's wire form; raises NotFound (404), ``not_failed``.
    """
    with db.write():
        row = held_row(db, org_id, change_id)
        db.update("sync_outbox", "id", change_id, {"status": "discarded"})
        kind = CHANGE_KINDS.get(row["kind"])
        if kind is not None and kind.is_create:
            db.execute(
                "UPDATE sync_outbox SET status = 'discarded' WHERE org_id = ? AND seq > ? "
                "AND (object_id = ? OR root_id = ?) AND status IN ('pending', 'failed', 'uncertain')",
                (org_id, row["seq"], row["object_id"], row["object_id"]),
            )
            if kind.forget is not None:
                kind.forget(db, row, clock)
        return change_wire(change_row(db, org_id, change_id))


def adopt_change(
    db: Database, org_id: str, change_id: str, remote_id: str, client: ScalingClient, *, clock: Clock
) -> dict[str, Any]:
    """Settle an uncertain (or failed) create by linking its local object to ``remote_id``.

    The remote object must exist (it is fetched) and must not be linked to another local object already;
    it becomes the local object's remote twin and the change is ``done``, so later changes to the object
    go out. Raises NotFound (404) for an unknown change or remote object, 409 ``remote_already_linked``,
    ``not_a_create`` for a change that makes no remote object.
    """
    from storage.sync.client import RemoteError

    row = held_row(db, org_id, change_id)
    kind = CHANGE_KINDS.get(row["kind"])
    if kind is None or kind.fetch is None:
        raise DomainError("not_a_create", f"change {change_id} ({row['kind']}) creates nothing to adopt")
    linked_to = linked_local_id(db, kind.table, remote_id)
    if linked_to is not None:
        raise DomainError(
            "remote_already_linked", f"remote object {remote_id} is already linked to {linked_to}"
        )
    try:
        data = kind.fetch(db, client, row, remote_id)
    except RemoteError as exc:
        if exc.http_status == 404:
            raise NotFound("remote object", remote_id) from None
        raise
    with db.write(), applying_remote():
        current = change_row(db, org_id, change_id)
        if current["status"] not in HELD_STATUSES:
            raise DomainError("not_failed", f"change {change_id} is {current['status']} now")
        apply_answer(db, current, remote_id, data)
        mark_done(db, current["seq"], remote_id, clock)
        db.update("sync_outbox", "seq", current["seq"], {"candidates": None})
        return change_wire(change_row(db, org_id, change_id))
