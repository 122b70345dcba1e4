"""The twelve change kinds, one row each: what is queued, the request sent, how an uncertain attempt is
reconciled, what the answer changes locally, and (for kinds that make a remote object) how the user adopts
one and what discarding a create leaves behind.

Every other module of the change queue asks :data:`CHANGE_KINDS` rather than testing a kind's name.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, WallClock
from engine.errors import NotFound
from engine.model import STATUSES
from storage.db import Database
from storage.sync.change_queue.reconcile import judge
from storage.sync.change_queue.remote_ids import (
    LocalSyncError,
    layer_to_remote,
    local_escalation,
    map_steps,
    mapped_remote_ids,
    origin,
    policy_shape,
    remote_id_of,
    steps_body,
)

if TYPE_CHECKING:
    from storage.sync.client import ScalingClient

Payload = dict[str, Any]
Sent = tuple[str | None, Any]
"""What sending a change produced: the remote id of the object created or changed, and the answer's data."""


@dataclass(frozen=True)
class Sending:
    """One change on its way out: the database, the remote, the change's row and its decoded payload."""

    db: Database
    client: ScalingClient
    row: sqlite3.Row
    body: Payload

    @property
    def object_id(self) -> str:
        return str(self.row["object_id"])

    @property
    def root_id(self) -> str:
        return str(self.row["root_id"])

    def request(self, method: str, *parts: str, body: Any = None) -> Any:
        """One request under the change's ``Idempotency-Key``; ``parts`` are path segments."""
        return self.client.request(
            method, self.client.path(*parts), body=body, idempotency_key=self.row["idem_key"]
        )

    def remote_id(self, what: str, local_id: str | None) -> str:
        return remote_id_of(self.db, what, local_id)


@dataclass(frozen=True)
class ChangeKind:
    """One kind of change and everything the queue does with it.

    ``record(db, object_id, root_id, payload)`` runs inside the mutation's transaction and returns the
    payload to queue, or None when this change does not go to the remote. ``send`` makes the request(s);
    ``reconcile`` (only after an attempt whose outcome is unknown) returns the effect already on the remote,
    None to send again, or raises :class:`~storage.sync.change_queue.reconcile.Uncertain`. ``apply``
    records the answer locally (inside the push's transaction). ``fetch`` (kinds that make a remote object)
    finds the remote object the user names for adoption, None when it does not exist. ``forget`` (creates)
    runs when the user discards the create: the object stays local-only.
    """

    name: str
    table: str
    """The local table of the object the change names (``layer.reorder``: the policy)."""
    record: Callable[[Database, str, str, Payload], Payload | None]
    send: Callable[[Sending], Sent]
    reconcile: Callable[[Sending], Sent | None] | None = None
    apply: Callable[[Database, sqlite3.Row, str | None, Any], None] | None = None
    is_create: bool = False
    """Creates the object's remote twin: later changes to the object and to what it holds wait behind it."""
    fetch: Callable[[Database, ScalingClient, sqlite3.Row, str], Any] | None = None
    forget: Callable[[Database, sqlite3.Row, Clock | None], None] | None = None

    @property
    def makes_remote_object(self) -> bool:
        """The answer is a new remote object: its creator is learned, and the user may adopt one."""
        return self.fetch is not None


# -- recording -----------------------------------------------------------------------------------

_POLICY_REMOTE_FIELDS = ("name", "description")


def _remote_fields(body: Payload, fields: tuple[str, ...]) -> Payload:
    return {k: body[k] for k in fields if k in body}


def _with_remote_id(db: Database, table: str, object_id: str, body: Payload) -> Payload:
    """A delete carries the remote id, since the local row is gone by the time it is sent."""
    rid = db.scalar(f"SELECT remote_id FROM {table} WHERE id = ?", (object_id,))
    if rid:
        body["remoteId"] = rid
    return body


def _record_policy_create(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    db.update("policies", "id", oid, {"origin": "remote"})
    return body


def _record_policy_update(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    if origin(db, "policies", oid) != "remote":
        return None
    return _remote_fields(body, _POLICY_REMOTE_FIELDS) or None  # only local extensions (repeat, re-page)


def _record_policy_delete(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    if origin(db, "policies", oid) != "remote":
        return None
    return _with_remote_id(db, "policies", oid, body)


def _record_layer_reorder(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    return body if origin(db, "policies", oid) == "remote" else None


def _record_layer_create(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    if origin(db, "policies", root) != "remote":
        return None
    db.update("escalation_layers", "id", oid, {"origin": "remote"})
    return body


def _record_layer_update(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    return body if origin(db, "policies", root) == "remote" else None


def _record_layer_delete(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    if origin(db, "policies", root) != "remote":
        return None
    return _with_remote_id(db, "escalation_layers", oid, body)


def _record_incident_create(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    """A non-drill incident is synced unless it escalates on a policy that never reached the remote."""
    row = db.one("SELECT is_drill, escalation_policy_id FROM incidents WHERE id = ?", (oid,))
    if row is None or row["is_drill"]:
        return None
    pid = row["escalation_policy_id"]
    if pid is not None and origin(db, "policies", pid) != "remote":
        return None
    db.update("incidents", "id", oid, {"origin": "remote"})
    return body


def _record_in_incident(db: Database, oid: str, root: str, body: Payload) -> Payload | None:
    return body if origin(db, "incidents", root) == "remote" else None


# -- sending -------------------------------------------------------------------------------------

_POLICIES = ("v1", "escalation", "policies")


def _id_of(data: Any) -> str:
    from storage.sync.client import RemoteError

    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    raise RemoteError(200, "invalid_response", "the remote's answer has no id")


def _status_index(status: Any) -> int:
    return STATUSES.index(status) if status in STATUSES else -1


def _tolerating(http_status: int, send: Callable[[], Any]) -> None:
    """A delete the remote no longer has (``http_status``) counts as done."""
    from storage.sync.client import RemoteError

    try:
        send()
    except RemoteError as exc:
        if exc.http_status != http_status:
            raise


def _send_policy_create(s: Sending) -> Sent:
    data = s.request("POST", *_POLICIES, body=_remote_fields(s.body, _POLICY_REMOTE_FIELDS))
    return _id_of(data), data


def _send_policy_update(s: Sending) -> Sent:
    from storage.sync.client import RemoteError

    rid = s.remote_id("policy", s.object_id)
    if policy_shape(s.db, s.object_id) == "steps":
        return rid, s.request("PUT", *_POLICIES, rid, body=steps_body(s.db, s.object_id))
    try:
        data = s.request("PATCH", *_POLICIES, rid, body=s.body)
    except RemoteError as exc:
        if exc.http_status != 405:
            raise
        data = s.request("PUT", *_POLICIES, rid, body=steps_body(s.db, s.object_id))
    return rid, data


def _send_policy_delete(s: Sending) -> Sent:
    rid = s.body.get("remoteId") or s.remote_id("policy", s.object_id)
    _tolerating(404, lambda: s.request("DELETE", *_POLICIES, rid))
    return rid, None


def _on_layers(send: Callable[[Sending, tuple[str, ...]], Sent]) -> Callable[[Sending], Sent]:
    """A layer change: to a remote that models the policy as ``steps``, the whole policy is replaced."""

    def send_layer_change(s: Sending) -> Sent:
        policy_rid = s.remote_id("policy", s.root_id)
        if policy_shape(s.db, s.root_id) == "steps":
            return None, s.request("PUT", *_POLICIES, policy_rid, body=steps_body(s.db, s.root_id))
        return send(s, (*_POLICIES, policy_rid, "layers"))

    return send_layer_change


def _send_layer_create(s: Sending, layers: tuple[str, ...]) -> Sent:
    data = s.request("POST", *layers, body=layer_to_remote(s.db, s.body))
    return _id_of(data), data


def _send_layer_update(s: Sending, layers: tuple[str, ...]) -> Sent:
    rid = s.remote_id("layer", s.object_id)
    return rid, s.request("PATCH", *layers, rid, body=layer_to_remote(s.db, s.body))


def _send_layer_delete(s: Sending, layers: tuple[str, ...]) -> Sent:
    rid = s.body.get("remoteId") or s.remote_id("layer", s.object_id)
    _tolerating(404, lambda: s.request("DELETE", *layers, rid))
    return rid, None


def _send_layer_reorder(s: Sending, layers: tuple[str, ...]) -> Sent:
    ids = [s.remote_id("layer", lid) for lid in s.body.get("layerIds") or []]
    return None, s.request("PUT", *layers, "order", body={"layerIds": ids})


def _send_incident_create(s: Sending) -> Sent:
    body = s.body
    out: Payload = _remote_fields(body, ("title", "description", "severity"))
    if body.get("ownerId"):
        out["ownerId"] = s.remote_id("user", body["ownerId"])
    if body.get("ownerScheduleId"):
        out["ownerScheduleId"] = s.remote_id("schedule", body["ownerScheduleId"])
    if body.get("escalationPolicyId"):
        out["escalationPolicyId"] = s.remote_id("policy", body["escalationPolicyId"])
    if body.get("componentIds"):
        out["componentIds"] = body["componentIds"]
    data = s.request("POST", "v1", "incidents", body=out)
    return _id_of(data), data


def _in_incident(send: Callable[[Sending, str], Sent]) -> Callable[[Sending], Sent]:
    """A change inside a synced incident: addressed by the incident's remote id."""

    def send_incident_change(s: Sending) -> Sent:
        return send(s, s.remote_id("incident", s.root_id))

    return send_incident_change


def _send_acknowledge(s: Sending, inc_rid: str) -> Sent:
    return inc_rid, s.request("POST", "v1", "incidents", inc_rid, "acknowledge")


def _send_status(s: Sending, inc_rid: str) -> Sent:
    from storage.sync.client import RemoteError

    try:
        return inc_rid, s.request("PATCH", "v1", "incidents", inc_rid, "status", body=s.body)
    except RemoteError as exc:
        if exc.code != "invalid_status_transition":
            raise
        current = s.client.get_incident(inc_rid)
        if _status_index(current.get("status")) >= _status_index(s.body.get("status")):
            return inc_rid, current  # already there: applied before, or by someone else
        raise


def _send_handoff(s: Sending, inc_rid: str) -> Sent:
    target = s.remote_id("user", s.body.get("targetUserId"))
    return inc_rid, s.request("POST", "v1", "incidents", inc_rid, "handoff", body={"targetUserId": target})


def _send_update(s: Sending, inc_rid: str) -> Sent:
    out = {k: s.body[k] for k in ("body", "statusChange", "visibility") if s.body.get(k) is not None}
    data = s.request("POST", "v1", "incidents", inc_rid, "updates", body=out)
    return _id_of(data), data


# -- reconciling an attempt whose outcome is unknown -------------------------------------------


def _remote_layers(client: ScalingClient, policy_rid: str) -> list[Any]:
    layers = client.get_policy(policy_rid).get("layers")
    if not isinstance(layers, list):
        layers = client.list_policy_layers(policy_rid) or []
    return layers


def _reconcile_policy_create(s: Sending) -> Sent | None:
    known = mapped_remote_ids(s.db, "policies")
    return judge(
        s.db,
        s.client,
        s.row,
        [
            pol
            for pol in s.client.list_policies()
            if pol.get("name") == s.body.get("name") and str(pol.get("id")) not in known
        ],
    )


def _reconcile_layer_create(s: Sending) -> Sent | None:
    policy_rid = s.remote_id("policy", s.root_id)
    if policy_shape(s.db, s.root_id) == "steps":
        return None  # a full replacement: sending it again is harmless
    known = mapped_remote_ids(s.db, "escalation_layers")
    layers = _remote_layers(s.client, policy_rid)
    want = layer_to_remote(s.db, s.body)
    return judge(
        s.db,
        s.client,
        s.row,
        [
            layer
            for layer in layers
            if isinstance(layer, dict)
            and str(layer.get("id")) not in known
            and layer.get("ackTimeoutMinutes") == want.get("ackTimeoutMinutes")
            and layer.get("target") == want.get("target")
        ],
    )


def _reconcile_incident_create(s: Sending) -> Sent | None:
    known = mapped_remote_ids(s.db, "incidents")
    page = next(iter(s.client.incidents_pages(limit=50)), [])
    return judge(
        s.db,
        s.client,
        s.row,
        [
            inc
            for inc in page
            if str(inc.get("id")) not in known
            and inc.get("title") == s.body.get("title")
            and inc.get("severity") == s.body.get("severity")
        ],
    )


def _reconcile_update(s: Sending) -> Sent | None:
    inc_rid = s.remote_id("incident", s.root_id)
    known = mapped_remote_ids(s.db, "incident_updates")
    return judge(
        s.db,
        s.client,
        s.row,
        [
            upd
            for upd in s.client.list_updates(inc_rid)
            if str(upd.get("id")) not in known
            and upd.get("body") == s.body.get("body")
            and upd.get("visibility") == s.body.get("visibility")
            and upd.get("statusChange") == s.body.get("statusChange")
        ],
    )


def _reconcile_status(s: Sending) -> Sent | None:
    """A status already reached counts as done."""
    inc_rid = s.remote_id("incident", s.root_id)
    current = s.client.get_incident(inc_rid)
    if _status_index(current.get("status")) >= _status_index(s.body.get("status")):
        return inc_rid, current
    return None


def _reconcile_handoff(s: Sending) -> Sent | None:
    """An owner already reached counts as done."""
    inc_rid = s.remote_id("incident", s.root_id)
    current = s.client.get_incident(inc_rid)
    if current.get("ownerId") == s.remote_id("user", s.body.get("targetUserId")):
        return inc_rid, current
    return None


# -- recording the answer ------------------------------------------------------------------------


def _steps_of(data: Any) -> list[Any] | None:
    if isinstance(data, dict) and isinstance(data.get("steps"), list):
        return list(data["steps"])
    return None


def _apply_policy_create(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    if remote_id:
        shape = "steps" if _steps_of(data) is not None else None
        db.execute(
            "UPDATE policies SET remote_id = ?, remote_shape = coalesce(?, remote_shape) WHERE id = ?",
            (remote_id, shape, row["object_id"]),
        )


def _apply_steps(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    """A remote that answers with the policy's ``steps`` names the layers' remote ids."""
    steps = _steps_of(data)
    if steps is not None:
        map_steps(db, row["root_id"], steps)


def _apply_layer_create(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    if remote_id:
        db.update("escalation_layers", "id", row["object_id"], {"remote_id": remote_id})
    else:
        _apply_steps(db, row, remote_id, data)


def _escalation_of(data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    for k in ("escalation", "escalationState"):
        if data.get(k) is not None:
            return data[k]
    return None


def _apply_escalation(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    """Every incident answer may report the remote's escalation state; keep it with local ids."""
    esc = _escalation_of(data)
    if esc is not None:
        db.update(
            "incidents",
            "id",
            row["root_id"],
            {
                "remote_escalation": json.dumps(
                    local_escalation(db, esc), separators=(",", ":"), sort_keys=True
                )
            },
        )


def _linking(table: str) -> Callable[[Database, sqlite3.Row, str | None, Any], None]:
    """Record the created object's remote id on its local row, then the escalation state."""

    def apply(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
        if remote_id:
            db.update(table, "id", row["object_id"], {"remote_id": remote_id})
        _apply_escalation(db, row, remote_id, data)

    return apply


# -- adopting a remote object, forgetting a discarded create ------------------------------------


def _in_list(items: list[Any], remote_id: str) -> Any:
    data = next((i for i in items if isinstance(i, dict) and str(i.get("id")) == remote_id), None)
    if data is None:
        raise NotFound("remote object", remote_id)
    return data


def _fetch_policy(db: Database, client: ScalingClient, row: sqlite3.Row, remote_id: str) -> Any:
    return client.get_policy(remote_id)


def _fetch_layer(db: Database, client: ScalingClient, row: sqlite3.Row, remote_id: str) -> Any:
    return _in_list(_remote_layers(client, remote_id_of(db, "policy", row["root_id"])), remote_id)


def _fetch_incident(db: Database, client: ScalingClient, row: sqlite3.Row, remote_id: str) -> Any:
    return client.get_incident(remote_id)


def _fetch_update(db: Database, client: ScalingClient, row: sqlite3.Row, remote_id: str) -> Any:
    return _in_list(client.list_updates(remote_id_of(db, "incident", row["root_id"])), remote_id)


def _forget_policy(db: Database, row: sqlite3.Row, clock: Clock | None) -> None:
    db.execute("UPDATE policies SET origin = 'local' WHERE id = ? AND remote_id IS NULL", (row["object_id"],))
    db.execute(
        "UPDATE escalation_layers SET origin = 'local' WHERE policy_id = ? AND remote_id IS NULL",
        (row["object_id"],),
    )


def _forget_layer(db: Database, row: sqlite3.Row, clock: Clock | None) -> None:
    db.execute(
        "UPDATE escalation_layers SET origin = 'local' WHERE id = ? AND remote_id IS NULL",
        (row["object_id"],),
    )


def _forget_incident(db: Database, row: sqlite3.Row, clock: Clock | None) -> None:
    """An incident that will never reach the remote is paged by the local engine, from now."""
    db.execute(
        "UPDATE incidents SET origin = 'local' WHERE id = ? AND remote_id IS NULL", (row["object_id"],)
    )
    if not db.scalar("SELECT acknowledged_at FROM incidents WHERE id = ?", (row["object_id"],)):
        from engine.runtime import escalator

        escalator.start(db, (clock or WallClock()).now(), row["object_id"])


# -- the table -----------------------------------------------------------------------------------

CHANGE_KINDS: dict[str, ChangeKind] = {
    k.name: k
    for k in (
        ChangeKind(
            "policy.create",
            "policies",
            _record_policy_create,
            _send_policy_create,
            reconcile=_reconcile_policy_create,
            apply=_apply_policy_create,
            is_create=True,
            fetch=_fetch_policy,
            forget=_forget_policy,
        ),
        ChangeKind(
            "policy.update", "policies", _record_policy_update, _send_policy_update, apply=_apply_steps
        ),
        ChangeKind("policy.delete", "policies", _record_policy_delete, _send_policy_delete),
        ChangeKind(
            "layer.create",
            "escalation_layers",
            _record_layer_create,
            _on_layers(_send_layer_create),
            reconcile=_reconcile_layer_create,
            apply=_apply_layer_create,
            is_create=True,
            fetch=_fetch_layer,
            forget=_forget_layer,
        ),
        ChangeKind(
            "layer.update",
            "escalation_layers",
            _record_layer_update,
            _on_layers(_send_layer_update),
            apply=_apply_steps,
        ),
        ChangeKind(
            "layer.delete",
            "escalation_layers",
            _record_layer_delete,
            _on_layers(_send_layer_delete),
            apply=_apply_steps,
        ),
        ChangeKind(
            "layer.reorder",
            "policies",
            _record_layer_reorder,
            _on_layers(_send_layer_reorder),
            apply=_apply_steps,
        ),
        ChangeKind(
            "incident.create",
            "incidents",
            _record_incident_create,
            _send_incident_create,
            reconcile=_reconcile_incident_create,
            apply=_linking("incidents"),
            is_create=True,
            fetch=_fetch_incident,
            forget=_forget_incident,
        ),
        ChangeKind(
            "incident.acknowledge",
            "incidents",
            _record_in_incident,
            _in_incident(_send_acknowledge),
            apply=_apply_escalation,
        ),
        ChangeKind(
            "incident.status",
            "incidents",
            _record_in_incident,
            _in_incident(_send_status),
            reconcile=_reconcile_status,
            apply=_apply_escalation,
        ),
        ChangeKind(
            "incident.handoff",
            "incidents",
            _record_in_incident,
            _in_incident(_send_handoff),
            reconcile=_reconcile_handoff,
            apply=_apply_escalation,
        ),
        ChangeKind(
            "incident.update",
            "incident_updates",
            _record_in_incident,
            _in_incident(_send_update),
            reconcile=_reconcile_update,
            apply=_linking("incident_updates"),
            fetch=_fetch_update,
        ),
    )
}
KINDS = tuple(CHANGE_KINDS)


def kind_of(name: str) -> ChangeKind:
    """The row of the table for a stored kind; raises LocalSyncError for one this version cannot send."""
    kind = CHANGE_KINDS.get(name)
    if kind is None:
        raise LocalSyncError(f"cannot send a change of kind {name}")
    return kind


def send(s: Sending, *, uncertain: bool) -> Sent:
    """Send one change (after reconciling an attempt that may have reached the remote)."""
    kind = kind_of(s.row["kind"])
    if uncertain and kind.reconcile is not None:
        adopted = kind.reconcile(s)
        if adopted is not None:
            return adopted
    return kind.send(s)


def apply_answer(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    """Record what the remote answered: ids of created objects, the escalation state it reports."""
    kind = kind_of(row["kind"])
    if kind.apply is not None:
        kind.apply(db, row, remote_id, data)
