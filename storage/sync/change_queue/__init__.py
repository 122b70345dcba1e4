"""The change queue: local changes to synced objects, queued in the transaction that made them and pushed
to the remote in order (table ``sync_outbox``).

Recording (:func:`record_change`, :mod:`.record`) is called by the service layer, one line per mutation. It
does nothing unless the organisation is linked to a remote, the object is synced and the change did not
itself come from a pull (:func:`applying_remote`). In a linked organisation new policies (and their layers)
are synced, and so are new non-drill incidents unless they escalate on a policy that was never synced; such
incidents are paged by the remote once they arrive there, never by the local engine.

Sending (:func:`push`, :mod:`.push`) holds a per-organisation lease (:mod:`storage.lease`, row
``push:<org>``) so one process sends at a time, and walks the queue in order:

* success: the change is ``done``; the remote id of a created object is recorded on the local row;
* the remote unreachable, rate limited past the client's retries, or failing (5xx): the change stays
  ``pending`` and sending stops (later changes never overtake it) until the next push;
* 401/403: sending stops; the key is the problem, not the change;
* any other 4xx: the change is ``failed`` with the remote's error and kept until the user retries or
  discards it; later changes to the same object (to anything inside it, after a failed create) wait
  behind it, others go on.

Never applied twice, never someone else's object: each change carries an ``Idempotency-Key``; a change
whose previous attempt may have reached the remote (a dropped connection, a crash while ``sending``) is
reconciled first (:mod:`.reconcile`). A status or owner already reached counts as done. A create adopts a
remote object only on proof that this change made it: same content, created by the key's own remote user
(learned from the answers to our earlier creates), inside the send window (give or take
:data:`CLOCK_SKEW_MS`), the only one, and not linked to any other local object. When no matching object can
be ours, it is sent again; when the proof is missing or ambiguous the change becomes ``uncertain`` and waits
for the user (:func:`retry_change`, :func:`discard_change`, :func:`adopt_change`, :mod:`.operations`),
holding back later changes to the same object like a failure does.

What each of the twelve change kinds records, sends, reconciles and applies is one table,
:data:`.kinds.CHANGE_KINDS`; remote ids and request bodies are translated in :mod:`.remote_ids`.

Local edits to objects the remote manages and this queue cannot send (schedules, their rotation layers and
overrides, people) are refused by :func:`refuse_local_edit` rather than overwritten by the next pull.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The service layer imports this package on every start to record changes (record.py and what it needs);
# sending (push.py, its lease and socket), the queue's reading and the user's operations load on first use
# (issue 17: a command's start-up). Import these names from the package, as everything does: importing
# the submodule ``storage.sync.change_queue.push`` directly first would leave the package's ``push``
# naming the module, not the function.
if TYPE_CHECKING:
    from storage.sync.change_queue.kinds import KINDS
    from storage.sync.change_queue.operations import adopt_change, discard_change, retry_change
    from storage.sync.change_queue.push import LEASE_TTL_MS, PushResult, push
    from storage.sync.change_queue.queue import (
        OPEN_STATUSES,
        change_wire,
        failed_changes,
        list_changes,
        pending_roots,
        uncertain_candidate_ids,
        uncertain_changes,
        waiting_count,
    )
    from storage.sync.change_queue.reconcile import CLOCK_SKEW_MS, own_actor_ids
    from storage.sync.change_queue.record import (
        SyncedObjectReadOnly,
        applying_remote,
        linked,
        record_change,
        refuse_local_edit,
    )
    from storage.sync.change_queue.remote_ids import (
        LocalSyncError,
        local_escalation,
        remote_escalation,
        remote_id_of,
    )

_WHERE = {
    "CLOCK_SKEW_MS": "reconcile",
    "KINDS": "kinds",
    "LEASE_TTL_MS": "push",
    "LocalSyncError": "remote_ids",
    "OPEN_STATUSES": "queue",
    "PushResult": "push",
    "SyncedObjectReadOnly": "record",
    "adopt_change": "operations",
    "applying_remote": "record",
    "change_wire": "queue",
    "discard_change": "operations",
    "failed_changes": "queue",
    "linked": "record",
    "list_changes": "queue",
    "local_escalation": "remote_ids",
    "own_actor_ids": "reconcile",
    "pending_roots": "queue",
    "push": "push",
    "record_change": "record",
    "refuse_local_edit": "record",
    "remote_escalation": "remote_ids",
    "remote_id_of": "remote_ids",
    "retry_change": "operations",
    "uncertain_candidate_ids": "queue",
    "uncertain_changes": "queue",
    "waiting_count": "queue",
}
"""Where each name of :data:`__all__` lives (a module of this package), imported on first use."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CLOCK_SKEW_MS",
    "KINDS",
    "LEASE_TTL_MS",
    "OPEN_STATUSES",
    "LocalSyncError",
    "PushResult",
    "SyncedObjectReadOnly",
    "adopt_change",
    "applying_remote",
    "change_wire",
    "discard_change",
    "failed_changes",
    "linked",
    "list_changes",
    "local_escalation",
    "own_actor_ids",
    "pending_roots",
    "push",
    "record_change",
    "refuse_local_edit",
    "remote_escalation",
    "remote_id_of",
    "retry_change",
    "uncertain_candidate_ids",
    "uncertain_changes",
    "waiting_count",
]
