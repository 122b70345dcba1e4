"""Pull: the remote organisation into the local database.

Order matters because objects refer to each other: users (and team members), then schedules with their
rotation layers, then escalation policies with their layers (or the provider's ``steps``), then incidents.
Every row written is marked ``origin = 'remote'`` with its ``remote_id``; references (participants, layer
targets, owners, policies) are translated to local ids. Writes go through the service layer (the same
validation as any local change) inside :func:`storage.sync.change_queue.applying_remote`, so nothing pulled is
queued to be pushed back. A remote object that no longer exists is removed locally (users are marked
removed, as everywhere).

Objects with local changes still waiting in the outbox are left alone until those changes are on the
remote: a pull never reverts an offline edit. Remote objects that an ``uncertain`` create may have made
(its candidates) are not imported until the user settles that change: adopting one links it instead.

Incidents come newest first with cursor pagination; paging stops at the first page holding an incident
already known. Open remote incidents are then fetched one by one for their status history and the
escalation state the remote reports (the local engine never pages them: they are created with
``page=False``).

Contact methods are never pulled: the Scaling API has none (they are a local extension), and nothing here
writes ``contact_methods``, so a remote can never give this machine a ``command`` to run or a webhook to
call. The pull's context is ``via="sync"``, which the contact-method service refuses for commands anyway
(tests/sync/test_remote.py::test_pull_never_creates_contact_methods).

One object that cannot be stored (a rule the local side enforces, a reference to something missing) is
reported in ``errors`` and skipped; the rest of the pull goes on.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from engine.clock import Clock
from engine.errors import DomainError, NameConflict
from engine.ids import new_id
from engine.model import LONGEST_WAIT_MINUTES, ROLES, STATUSES
from engine.service import Ctx, incidents, orgs, policies, schedules
from engine.service.models import IncidentCreate, StatusChange
from engine.service.validate import decode_field
from engine.timefmt import parse_iso, to_iso
from storage import timeline
from storage.db import Database
from storage.queries import incidents as incident_queries
from storage.queries import orgs as org_queries
from storage.queries import policies as policy_queries
from storage.queries import remote_links
from storage.sync.change_queue import (
    applying_remote,
    local_escalation,
    pending_roots,
    uncertain_candidate_ids,
)
from storage.sync.client import RemoteError, ScalingClient, list_items

log = logging.getLogger("oncall.sync.pull")


@dataclass
class PullResult:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    pages: int = 0

    def bump(self, what: str, kind: str) -> None:
        bucket = {"created": self.created, "updated": self.updated, "deleted": self.deleted}.get(
            what, self.skipped
        )
        bucket[kind] = bucket.get(kind, 0) + 1

    def error(self, kind: str, remote_id: str, exc: Exception) -> None:
        msg = exc.message if isinstance(exc, DomainError) else str(exc)
        self.errors.append({"kind": kind, "remoteId": remote_id, "error": msg})
        log.warning("pull: %s %s skipped: %s", kind, remote_id, msg)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "errors": self.errors,
            "incidentPages": self.pages,
        }


class Puller:
    def __init__(self, db: Database, org_id: str, client: ScalingClient, clock: Clock) -> None:
        self.db = db
        self.org_id = org_id
        self.client = client
        self.clock = clock
        self.ctx = Ctx(
            db=db, org_id=org_id, actor_id=None, actor_user_id=None, is_admin=True, clock=clock, via="sync"
        )
        self.result = PullResult()
        self.pending = pending_roots(db, org_id)
        self.held = uncertain_candidate_ids(db, org_id)

    # -- id map ---------------------------------------------------------------------------------

    def local_id(self, table: str, remote_id: Any, *, within: str | None = None) -> str | None:
        """The local row of ``table`` linked to ``remote_id`` in this organisation (or, for a layer,
        ``within`` its schedule or policy), or None."""
        if remote_id is None:
            return None
        return remote_links.local_id(self.db, table, str(remote_id), within or self.org_id)

    def user(self, remote_id: Any) -> str | None:
        """The local user for a remote user id; a placeholder when the remote never listed them."""
        if remote_id is None:
            return None
        local = self.local_id("users", remote_id)
        if local is not None:
            # Referenced again (a participant, an owner): back among the members, unless the address
            # now belongs to someone else.
            org_queries.restore_pulled_user(self.db, local)
            return local
        safe = re.sub(r"[^a-z0-9._-]", "-", str(remote_id).lower())[:64] or "user"
        user = orgs.add_user(
            self.ctx,
            email=f"{safe}{org_queries.PLACEHOLDER_DOMAIN}",
            origin="remote",
            remote_id=str(remote_id),
        )
        self.result.bump("created", "user")
        return str(user["id"])

    # -- the whole pull -------------------------------------------------------------------------

    def run(self) -> PullResult:
        with applying_remote():
            self.pull_users()
            seen_schedules = self.pull_schedules()
            self.pull_policies()
            # After the policies: a schedule gone from the remote may still be a target until then.
            self.remove_schedules(seen_schedules)
            self.pull_incidents()
        return self.result

    # -- users ----------------------------------------------------------------------------------

    def pull_users(self) -> None:
        try:
            remote = self.client.list_users()
        except RemoteError as exc:
            if exc.http_status not in (403, 404, 405):
                raise
            # No list of people for this key: they come as placeholders where they are referenced.
            self.result.error("user", "*", exc)
            return
        seen: set[str] = set()
        for u in remote:
            rid = str(u.get("id") or "")
            if not rid:
                continue
            seen.add(rid)
            try:
                with self.db.write():
                    self._upsert_user(rid, u)
            except (DomainError, sqlite3.IntegrityError) as exc:
                self.result.error("user", rid, exc)
        if not seen:
            return  # an empty answer (no permission?) never removes everyone
        for r in org_queries.listed_pulled_users(self.db, self.org_id):
            if r["remote_id"] not in seen:
                now = to_iso(self.clock.now())
                org_queries.update_user(self.db, r["id"], {"removed_at": now, "updated_at": now})
                self.result.bump("deleted", "user")

    def _upsert_user(self, rid: str, u: dict[str, Any]) -> None:
        email_raw = u.get("email") or u.get("emailAddress")
        # A role this side does not know keeps the local one (a new person is a member); every other
        # field is checked by the rules a local create uses (orgs.check_person).
        role = u.get("role") if u.get("role") in ROLES else None
        fields: dict[str, Any] = {"firstName": u.get("firstName"), "lastName": u.get("lastName")}
        fields["imageUrl"] = u.get("imageUrl")
        if role is not None:
            fields["role"] = role
        row = org_queries.user_row_by_remote_id(self.db, self.org_id, rid)
        if row is None and isinstance(email_raw, str):
            # The same person may already be here (the admin who ran `oncall init`): link by email.
            row = org_queries.unlinked_user_by_email(self.db, self.org_id, email_raw.strip().lower())
        if row is None:
            safe = re.sub(r"[^a-z0-9._-]", "-", rid.lower())[:64] or "user"
            email = email_raw or f"{safe}{org_queries.PLACEHOLDER_DOMAIN}"
            orgs.create_user(self.ctx, {"email": email, **fields}, origin="remote", remote_id=rid)
            self.result.bump("created", "user")
            return
        # No address from the remote (or not a string): the person keeps theirs.
        email = email_raw if isinstance(email_raw, str) else row["email"]
        person = orgs.check_person({"email": email, **fields})
        changes: dict[str, Any] = {"origin": "remote", "remote_id": rid, "removed_at": None}
        if person.email != row["email"]:
            changes["email"] = person.email
        for col in ("first_name", "last_name", "image_url", "role"):
            value = getattr(person, col)
            if value is not None and value != row[col]:
                changes[col] = value
        diff = {k: v for k, v in changes.items() if row[k] != v}
        if diff:
            diff["updated_at"] = to_iso(self.clock.now())
            org_queries.update_user(self.db, row["id"], diff)
            self.result.bump("updated", "user")

    # -- schedules ------------------------------------------------------------------------------

    def pull_schedules(self) -> set[str]:
        seen: set[str] = set()
        for s in self.client.list_schedules():
            rid = str(s.get("id") or "")
            if not rid:
                continue
            seen.add(rid)
            try:
                full = self.client.get_schedule(rid)
            except RemoteError as exc:
                if exc.http_status == 404:
                    continue
                raise
            try:
                with self.db.write():
                    self._upsert_schedule(rid, {**s, **full})
            except (DomainError, sqlite3.IntegrityError) as exc:
                self.result.error("schedule", rid, exc)
        return seen

    def remove_schedules(self, seen: set[str]) -> None:
        for r in remote_links.linked_rows(self.db, "schedules", self.org_id, pulled_only=True):
            if r["remote_id"] not in seen:
                try:
                    schedules.delete_schedule(self.ctx, r["id"])
                    self.result.bump("deleted", "schedule")
                except (DomainError, sqlite3.IntegrityError) as exc:
                    self.result.error("schedule", r["remote_id"], exc)

    def _named(self, fn: Any, body: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call ``fn``; on a name clash with a local object, keep the remote one as "NAME (Scaling)"."""
        try:
            with self.db.write():
                return dict(fn(*args, body, **kwargs))
        except NameConflict:
            renamed = {**body, "name": f"{body['name']} (Scaling)"[:255]}
            return dict(fn(*args, renamed, **kwargs))

    def _upsert_schedule(self, rid: str, s: dict[str, Any]) -> None:
        body = {"name": s.get("name"), "description": s.get("description"), "timezone": s.get("timezone")}
        local = self.local_id("schedules", rid)
        if local is None:
            sched = self._named(schedules.create_schedule, body, self.ctx, origin="remote", remote_id=rid)
            local = str(sched["id"])
            self.result.bump("created", "schedule")
        else:
            cur = schedules.schedule_wire(schedules._schedule_row(self.ctx, local))
            if any(cur[k] != v for k, v in body.items()) and not (
                cur["name"] == f"{body['name']} (Scaling)"[:255]
                and all(cur[k] == body[k] for k in ("description", "timezone"))
            ):
                self._named(schedules.update_schedule, body, self.ctx, local)
                self.result.bump("updated", "schedule")
        layers = list_items(s.get("layers"), "layers", "rotationLayers") if "layers" in s else None
        if layers is not None:
            self._sync_rotation_layers(local, layers)

    def _sync_rotation_layers(self, schedule_id: str, layers: list[Any]) -> None:
        remote = [lyr for lyr in layers if isinstance(lyr, dict) and lyr.get("id") is not None]
        if all(isinstance(lyr.get("position"), int) for lyr in remote):
            remote.sort(key=lambda lyr: lyr["position"])
        order: list[str] = []
        seen: set[str] = set()
        for lyr in remote:
            rid = str(lyr["id"])
            seen.add(rid)
            body = {
                "name": lyr.get("name"),
                "rotationType": lyr.get("rotationType"),
                "rotationLengthDays": lyr.get("rotationLengthDays"),
                "handoffTime": lyr.get("handoffTime"),
                "effectiveFrom": lyr.get("effectiveFrom") or lyr.get("createdAt"),
                "effectiveUntil": lyr.get("effectiveUntil"),
                "participantIds": [self.user(p) for p in lyr.get("participantIds") or []],
            }
            if body["rotationLengthDays"] is None:
                del body["rotationLengthDays"]  # daily/weekly imply it
            local = self.local_id("rotation_layers", rid, within=schedule_id)
            try:
                with self.db.write():
                    if local is None:
                        made = schedules.add_rotation_layer(
                            self.ctx, schedule_id, body, origin="remote", remote_id=rid
                        )
                        local = str(made["id"])
                        self.result.bump("created", "rotation_layer")
                    else:
                        cur = schedules.rotation_layer_wire(
                            schedules._layer_row(self.ctx, schedule_id, local)
                        )
                        if _differs(cur, body):
                            schedules.update_rotation_layer(self.ctx, schedule_id, local, body)
                            self.result.bump("updated", "rotation_layer")
            except (DomainError, sqlite3.IntegrityError) as exc:
                self.result.error("rotation_layer", rid, exc)
                continue
            order.append(local)
        for r in remote_links.linked_rows(self.db, "rotation_layers", schedule_id):
            if r["remote_id"] not in seen:
                schedules.delete_rotation_layer(self.ctx, schedule_id, r["id"])
                self.result.bump("deleted", "rotation_layer")
        current = [lyr["id"] for lyr in schedules.list_rotation_layers(self.ctx, schedule_id)]
        wanted = order + [i for i in current if i not in order]
        if wanted != current:
            schedules.reorder_rotation_layers(self.ctx, schedule_id, wanted)

    # -- policies -------------------------------------------------------------------------------

    def pull_policies(self) -> None:
        seen: set[str] = set()
        for p in self.client.list_policies():
            rid = str(p.get("id") or "")
            if not rid:
                continue
            seen.add(rid)
            local = self.local_id("policies", rid)
            if (local is not None and local in self.pending) or (local is None and rid in self.held):
                self.result.bump("skipped", "policy")
                continue
            try:
                full = self.client.get_policy(rid)
            except RemoteError as exc:
                if exc.http_status == 404:
                    continue
                raise
            merged = {**p, **full}
            shape, layers = self._policy_layers(rid, merged)
            try:
                with self.db.write():
                    self._upsert_policy(rid, merged, shape, layers)
            except (DomainError, sqlite3.IntegrityError) as exc:
                self.result.error("policy", rid, exc)
        for r in remote_links.linked_rows(self.db, "policies", self.org_id, pulled_only=True):
            if r["remote_id"] not in seen and r["id"] not in self.pending:
                try:
                    policies.delete_policy(self.ctx, r["id"])
                    self.result.bump("deleted", "policy")
                except (DomainError, sqlite3.IntegrityError) as exc:
                    self.result.error("policy", r["remote_id"], exc)

    def _policy_layers(self, rid: str, p: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
        """The policy's layers in the docs' shape, from ``layers`` or the provider's ``steps``."""
        if isinstance(p.get("steps"), list):
            return "steps", [_step_as_layer(s, i) for i, s in enumerate(p["steps"]) if isinstance(s, dict)]
        if isinstance(p.get("layers"), list):
            return "layers", [lyr for lyr in p["layers"] if isinstance(lyr, dict)]
        return "layers", self.client.list_policy_layers(rid)

    def _upsert_policy(
        self, rid: str, p: dict[str, Any], shape: str, layers: list[dict[str, Any]] | None
    ) -> None:
        body = {"name": p.get("name"), "description": p.get("description")}
        local = self.local_id("policies", rid)
        if local is None:
            pol = self._named(policies.create_policy, body, self.ctx, origin="remote", remote_id=rid)
            local = str(pol["id"])
            self.result.bump("created", "policy")
        else:
            cur = policies.find_policy(self.ctx, local)
            if (cur["name"], cur["description"]) != (body["name"], body["description"]) and cur[
                "name"
            ] != f"{body['name']} (Scaling)"[:255]:
                self._named(policies.update_policy, body, self.ctx, local)
                self.result.bump("updated", "policy")
        policy_queries.update_policy(self.db, local, {"remote_shape": shape})
        if layers is not None:
            self._sync_escalation_layers(local, layers)

    def _target(self, target: Any) -> dict[str, Any]:
        if not isinstance(target, dict):
            raise DomainError("invalid_target", "the remote layer has no target")
        if target.get("type") == "schedule":
            sid = self.local_id("schedules", target.get("scheduleId"))
            if sid is None:
                raise DomainError("invalid_target", f"schedule {target.get('scheduleId')!r} was not pulled")
            return {"type": "schedule", "scheduleId": sid}
        if target.get("type") == "users":
            return {"type": "users", "userIds": [self.user(u) for u in target.get("userIds") or []]}
        raise DomainError("invalid_target", f"unknown target type {target.get('type')!r}")

    def _sync_escalation_layers(self, policy_id: str, layers: list[dict[str, Any]]) -> None:
        remote = [lyr for lyr in layers if lyr.get("id") is not None]
        if all(isinstance(lyr.get("position"), int) for lyr in remote):
            remote.sort(key=lambda lyr: lyr["position"])
        order: list[str] = []
        seen: set[str] = set()
        for i, lyr in enumerate(remote, start=1):
            rid = str(lyr["id"])
            seen.add(rid)
            local = self.local_id("escalation_layers", rid, within=policy_id)
            try:
                with self.db.write():
                    body = {
                        "ackTimeoutMinutes": lyr.get("ackTimeoutMinutes"),
                        "target": self._target(lyr.get("target")),
                    }
                    if local is None:
                        made = policies.add_layer(
                            self.ctx,
                            policy_id,
                            {"position": 10_000 + i, **body},
                            origin="remote",
                            remote_id=rid,
                        )
                        local = str(made["id"])
                        self.result.bump("created", "escalation_layer")
                    else:
                        cur = policies.layer_wire(policies._layer_row(self.ctx, policy_id, local))
                        if _differs(cur, body):
                            policies.update_layer(self.ctx, policy_id, local, body)
                            self.result.bump("updated", "escalation_layer")
            except (DomainError, sqlite3.IntegrityError) as exc:
                self.result.error("escalation_layer", rid, exc)
                continue
            order.append(local)
        for r in remote_links.linked_rows(self.db, "escalation_layers", policy_id):
            if r["remote_id"] not in seen:
                policies.delete_layer(self.ctx, policy_id, r["id"])
                self.result.bump("deleted", "escalation_layer")
        current = [lyr["id"] for lyr in policies.list_layers(self.ctx, policy_id)]
        wanted = order + [i for i in current if i not in order]
        if wanted != current:
            policies.reorder_layers(self.ctx, policy_id, wanted)

    # -- incidents ------------------------------------------------------------------------------

    def pull_incidents(self) -> None:
        known = {r["remote_id"] for r in remote_links.linked_rows(self.db, "incidents", self.org_id)}
        seen: set[str] = set()
        open_remote: list[str] = []
        fetched: list[tuple[str, dict[str, Any]]] = []
        for page in self.client.incidents_pages(limit=100):
            self.result.pages += 1
            reached_known = False
            for inc in page:
                rid = str(inc.get("id") or "")
                if not rid or rid in seen:
                    continue
                seen.add(rid)
                reached_known = reached_known or rid in known
                if inc.get("status") != "resolved":
                    open_remote.append(rid)
                fetched.append((rid, inc))
            if reached_known:
                break
        # Oldest first, so local sequence numbers (#1, #2, …) follow the remote's creation order.
        for rid, inc in reversed(fetched):
            self._store_incident(rid, inc)
        # Open incidents: fetched one by one for the status history and the escalation state.
        for open_rid in incident_queries.open_pulled_incident_remote_ids(self.db, self.org_id):
            if open_rid not in open_remote:
                open_remote.append(open_rid)
        for rid in open_remote:
            try:
                full = self.client.get_incident(rid)
            except RemoteError as exc:
                if exc.http_status == 404:
                    continue
                raise
            self._store_incident(rid, full)

    def _store_incident(self, rid: str, inc: dict[str, Any]) -> None:
        local = self.local_id("incidents", rid)
        if (local is not None and local in self.pending) or (local is None and rid in self.held):
            self.result.bump("skipped", "incident")
            return
        try:
            with self.db.write():
                if local is None:
                    body: dict[str, Any] = {
                        "title": inc.get("title"),
                        "description": inc.get("description"),
                        "severity": inc.get("severity"),
                        "ownerId": self.user(inc.get("ownerId")),
                        "escalationPolicyId": self.local_id("policies", inc.get("escalationPolicyId")),
                    }
                    made = incidents.create_incident(
                        self.ctx, body, origin="remote", remote_id=rid, page=False
                    )
                    local = str(made["id"])
                    self._apply_incident(local, inc, new=True)
                    self.result.bump("created", "incident")
                elif self._apply_incident(local, inc, new=False):
                    self.result.bump("updated", "incident")
        except (DomainError, sqlite3.IntegrityError) as exc:
            self.result.error("incident", rid, exc)

    def _apply_incident(self, local: str, inc: dict[str, Any], *, new: bool) -> bool:
        """Bring the local copy to the remote's state; timeline events for what changed. True if changed."""
        row = incident_queries.incident_row(self.db, self.org_id, local)
        assert row is not None
        now = self.clock.now()
        changes: dict[str, Any] = {}
        # The rules a local create and a status change use (engine.service.models), field by field.
        changes["title"] = decode_field(IncidentCreate, "title", inc.get("title"))
        if "description" in inc:
            changes["description"] = decode_field(IncidentCreate, "description", inc.get("description"))
        changes["severity"] = decode_field(IncidentCreate, "severity", inc.get("severity"))
        status = decode_field(StatusChange, "status", inc.get("status") or row["status"])
        changes["status"] = status
        if "ownerId" in inc:
            changes["owner_id"] = self.user(inc.get("ownerId"))
        if "escalationPolicyId" in inc:
            changes["escalation_policy_id"] = self.local_id("policies", inc.get("escalationPolicyId"))
        for col, key in (("created_at", "createdAt"), ("updated_at", "updatedAt")):
            ts = _iso(inc.get(key))
            if ts is not None:
                changes[col] = ts
        if new and inc.get("createdBy") is not None:
            changes["created_by"] = self.local_id("users", inc["createdBy"]) or str(inc["createdBy"])
        esc = local_escalation(self.db, inc.get("escalation", inc.get("escalationState")))
        if esc is not None:
            changes["remote_escalation"] = json.dumps(esc, separators=(",", ":"), sort_keys=True)
        ack_at = _iso(inc.get("acknowledgedAt"))
        if ack_at is None and isinstance(esc, dict):
            ack_at = _iso(esc.get("acknowledgedAt"))
        ack_by = inc.get("acknowledgedBy") or (esc.get("acknowledgedBy") if isinstance(esc, dict) else None)
        if ack_at is not None or ack_by is not None:
            changes["acknowledged_at"] = ack_at or row["acknowledged_at"] or changes.get("updated_at")
            changes["acknowledged_by"] = self.local_id("users", ack_by) or ack_by
        if status == "resolved":
            changes["resolved_at"] = row["resolved_at"] or _resolved_at(inc) or changes.get("updated_at")
        diff = {k: v for k, v in changes.items() if row[k] != v}
        if not diff:
            return False
        incident_queries.update_incident(self.db, local, diff)
        self._history(row, inc, status, now)
        if not new:
            if "status" in diff:
                timeline.record(
                    self.db,
                    local,
                    now,
                    "status_changed",
                    "remote",
                    fromStatus=row["status"],
                    toStatus=status,
                    source="remote",
                )
            if "acknowledged_at" in diff and row["acknowledged_at"] is None:
                timeline.record(
                    self.db,
                    local,
                    now,
                    "incident_acknowledged",
                    "remote",
                    userId=diff.get("acknowledged_by"),
                    source="remote",
                )
            if "owner_id" in diff:
                timeline.record(
                    self.db,
                    local,
                    now,
                    "incident_handed_off",
                    "remote",
                    previousOwnerId=row["owner_id"],
                    newOwnerId=diff["owner_id"],
                    source="remote",
                )
            # The console's live table reads changes through the timeline (its monotonic cursor), so
            # every change it shows has an event: a remote edit of the title or severity too.
            edited = [field for field in ("title", "severity") if field in diff]
            if edited:
                timeline.record(
                    self.db,
                    local,
                    now,
                    "incident_edited",
                    "remote",
                    fields=edited,
                    source="remote",
                )
        return True

    def _history(self, row: sqlite3.Row, inc: dict[str, Any], status: str, now: Any) -> None:
        """Status history rows for statuses the local copy has not recorded yet."""
        have = incident_queries.recorded_statuses(self.db, row["id"])
        entries = [e for e in inc.get("statusHistory") or [] if isinstance(e, dict)]
        by_status = {e.get("status"): e for e in entries}
        created = _iso(inc.get("createdAt"))
        if created and "investigating" in have:
            changed_at = _iso(by_status.get("investigating", {}).get("changedAt")) or created
            incident_queries.set_status_changed_at(self.db, row["id"], "investigating", changed_at)
        for s in STATUSES[: STATUSES.index(status) + 1]:
            if s in have:
                continue
            e = by_status.get(s, {})
            incident_queries.insert_status_change(
                self.db,
                {
                    "id": new_id("sh", now),
                    "incident_id": row["id"],
                    "status": s,
                    "changed_at": _iso(e.get("changedAt")) or _iso(inc.get("updatedAt")) or to_iso(now),
                    "changed_by": None,
                    "resolution_note": e.get("resolutionNote") if s == "resolved" else None,
                },
            )


# -- helpers -------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_iso(parse_iso(value))
    except ValueError:
        return None


def _resolved_at(inc: dict[str, Any]) -> str | None:
    for e in inc.get("statusHistory") or []:
        if isinstance(e, dict) and e.get("status") == "resolved":
            return _iso(e.get("changedAt"))
    return None


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for k, v in wanted.items():
        cur = current.get(k)
        if k in ("effectiveFrom", "effectiveUntil"):
            v = _iso(v) if v is not None else None
        if cur != v:
            return True
    return False


def _step_as_layer(step: dict[str, Any], index: int) -> dict[str, Any]:
    """The provider's ``{targetType, targetId, escalateAfterSeconds}`` as a docs-shaped layer."""
    secs = step.get("escalateAfterSeconds")
    minutes = step.get("ackTimeoutMinutes")
    if minutes is None:
        minutes = math.ceil(secs / 60) if isinstance(secs, int | float) and secs > 0 else 1
    minutes = max(1, min(LONGEST_WAIT_MINUTES, int(minutes)))
    ttype = step.get("targetType")
    if isinstance(step.get("target"), dict):
        target = step["target"]
    elif ttype in ("user", "users"):
        ids = step.get("targetIds") or ([step["targetId"]] if step.get("targetId") else [])
        target = {"type": "users", "userIds": ids}
    else:
        target = {"type": "schedule", "scheduleId": step.get("targetId")}
    return {
        "id": step.get("id") if step.get("id") is not None else f"step-{index}",
        "position": step.get("position") if isinstance(step.get("position"), int) else index + 1,
        "ackTimeoutMinutes": minutes,
        "target": target,
    }


def pull(db: Database, org_id: str, client: ScalingClient, *, clock: Clock) -> PullResult:
    """Pull everything once; records the time and any error in ``sync_config``."""
    try:
        result = Puller(db, org_id, client, clock).run()
    except Exception as exc:
        msg = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        with db.write():
            db.execute("UPDATE sync_config SET last_pull_error = ? WHERE org_id = ?", (msg, org_id))
        raise
    with db.write():
        db.execute(
            "UPDATE sync_config SET last_pull_at = ?, last_pull_error = ? WHERE org_id = ?",
            (to_iso(clock.now()), None, org_id),
        )
    return result
