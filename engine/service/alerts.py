"""Alerts in: a payload received on an integration's URL becomes stored alerts grouped onto incidents.

:func:`receive` is the receiver's use case: the token names the integration (404 when none), the payload is
read by the pure rules of :mod:`engine.alerts` (422 when it lacks the kind's shape), and then one write
transaction stores every alert of the payload and opens, grows, acknowledges or resolves incidents as
:func:`engine.alerts.decide` says. Opening an incident pages its policy's layer 1 in that same transaction
(as any incident create does) unless a maintenance window holds it; nothing else is paged in the request.

Wire forms (stable: the console's Alerts tab reads them):

* an alert (:func:`alert_wire`): ``{id, integrationId, incidentId, dedupKey, groupKey, status
  (firing|resolved|acknowledged), summary, severity, source, labels, annotations, links: [{href, text}],
  count, firstSeen, lastSeen, resolvedAt, droppedBy, rawTruncated}`` (``raw`` too from :func:`get_alert`);
* an incident's alert summary (:func:`incident_alerts`): ``{incidentId, integrationId, integrationName,
  count, firing, firstSeen, lastSeen, heldBy, labels (common to all its alerts), links, alerts: [...]}``;
* :func:`alert_counts`: ``{incidentId: count}`` for the incident list.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from engine import alerts as rules
from engine.clock import Clock, VirtualClock
from engine.errors import NotFound, ValidationError
from engine.ids import new_id
from engine.runtime.operator_config import OperatorConfig
from engine.service import Ctx, incidents, integrations, maintenance
from engine.timefmt import to_epoch_ms, to_iso
from storage import timeline
from storage.db import Database
from storage.queries import alerts as queries
from storage.queries import incidents as incident_queries
from storage.queries import integrations as integration_queries
from storage.queries import policies as policy_queries
from storage.queries import timers
from storage.queries.timers import Timer

RESOLVE_TIMER_KIND = "alert_resolve"
MAX_ALERTS_SHOWN = 200


# -- wire forms --------------------------------------------------------------------------------------


def alert_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "integrationId": row["integration_id"],
        "incidentId": row["incident_id"],
        "dedupKey": row["dedup_key"],
        "groupKey": row["group_key"],
        "status": row["status"],
        "summary": row["summary"],
        "severity": row["severity"],
        "source": row["source"],
        "labels": json.loads(row["labels"]),
        "annotations": json.loads(row["annotations"]),
        "links": json.loads(row["links"]),
        "count": row["count"],
        "firstSeen": row["first_seen"],
        "lastSeen": row["last_seen"],
        "resolvedAt": row["resolved_at"],
        "droppedBy": row["dropped_by"],
        "rawTruncated": bool(row["raw_truncated"]),
    }


def _summary_wire(db: Database, group: sqlite3.Row) -> dict[str, Any]:
    rows = queries.incident_alerts(db, group["incident_id"], MAX_ALERTS_SHOWN)
    alerts = [alert_wire(r) for r in rows]
    common: dict[str, str] | None = None
    links: list[dict[str, str]] = []
    for a in alerts:
        labels = a["labels"]
        common = dict(labels) if common is None else {k: v for k, v in common.items() if labels.get(k) == v}
        for link in a["links"]:
            if link not in links:
                links.append(link)
    integration = integration_queries.any_row(db, group["integration_id"])
    return {
        "incidentId": group["incident_id"],
        "integrationId": group["integration_id"],
        "integrationName": integration["name"] if integration else None,
        "count": group["alert_count"],
        "firing": group["firing_count"],
        "firstSeen": group["first_seen"],
        "lastSeen": group["last_seen"],
        "heldBy": group["held_by"],
        "labels": common or {},
        "links": links,
        "alerts": alerts,
    }


# -- reading -----------------------------------------------------------------------------------------


def incident_alerts(ctx: Ctx, incident_id: str) -> dict[str, Any] | None:
    """The alert summary of an incident (None when alerts did not open it); 404 for an unknown incident."""
    with ctx.db.read():
        if incident_queries.incident_row(ctx.db, ctx.org_id, incident_id) is None:
            raise NotFound("incident", incident_id)
        group = queries.group(ctx.db, incident_id)
        return None if group is None else _summary_wire(ctx.db, group)


def alert_counts(ctx: Ctx, incident_ids: Sequence[str]) -> dict[str, int]:
    """``{incidentId: alert count}`` for those of ``incident_ids`` opened by alerts (one indexed read)."""
    with ctx.db.read():
        return {g["incident_id"]: g["alert_count"] for g in queries.groups(ctx.db, ctx.org_id, incident_ids)}


def list_alerts(ctx: Ctx, *, integration: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The organisation's alerts (of one integration, by id or name), most recently seen first."""
    with ctx.db.read():
        integration_id = None
        if integration is not None:
            integration_id = integrations.get_integration(ctx, integration)["id"]
        return [alert_wire(r) for r in queries.integration_alerts(ctx.db, ctx.org_id, integration_id, limit)]


def get_alert(ctx: Ctx, alert_id: str) -> dict[str, Any]:
    """One alert with its stored ``raw`` payload text (cut at :data:`engine.alerts.MAX_RAW_BYTES`)."""
    with ctx.db.read():
        row = queries.alert_row(ctx.db, ctx.org_id, alert_id)
        if row is None:
            raise NotFound("alert", alert_id)
        return {**alert_wire(row), "raw": row["raw"]}


# -- receiving ---------------------------------------------------------------------------------------


class _Receipt:
    """What one payload did, for the 202 answer."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    def add(self, alert_id: str | None, incident_id: str | None, action: str) -> None:
        self.alerts.append({"alertId": alert_id, "incidentId": incident_id, "action": action})


def check_token(db: Database, token: str) -> None:
    """404 ``not_found`` unless ``token`` is the URL token of a live integration (read only)."""
    with db.read():
        if integration_queries.by_token_hash(db, integrations.hash_token(token)) is None:
            raise NotFound("integration")


def receive(
    db: Database, clock: Clock, token: str, payload: Any, *, config: OperatorConfig | None = None
) -> dict[str, Any]:
    """Store the alerts of ``payload`` (decoded JSON) received on the URL token ``token``.

    Answers ``{integrationId, accepted, alerts: [{alertId, incidentId, action}]}`` where ``action`` is
    one of :data:`engine.alerts.Action` (``dropped`` for an alert a maintenance window dropped). Raises
    404 ``not_found`` for an unknown or revoked token and 422 ``validation_error`` for a payload without
    the integration's shape; then nothing is stored.
    """
    digest = integrations.hash_token(token)
    with db.read():
        row = integration_queries.by_token_hash(db, digest)
    if row is None:
        raise NotFound("integration")
    ctx = Ctx(db=db, org_id=row["org_id"], actor_id=row["id"], clock=clock, config=config or OperatorConfig())
    return _receive(ctx, row["kind"], payload, lambda: integration_queries.by_token_hash(db, digest))


def send_test(ctx: Ctx, ident: str, *, resolved: bool = False) -> dict[str, Any]:
    """Receive the sample payload of the integration's kind (:func:`engine.service.integrations.sample_payload`,
    firing or ``resolved``) as if its URL had been called: ``oncall integrations test``. Answers as
    :func:`receive`; 404 for an unknown integration."""
    with ctx.db.read():
        row = integrations.integration_row(ctx, ident)
    test_ctx = Ctx(db=ctx.db, org_id=ctx.org_id, actor_id=row["id"], clock=ctx.clock, config=ctx.config)
    body = integrations.sample_payload(row["kind"], resolved=resolved)
    return _receive(
        test_ctx, row["kind"], body, lambda: integration_queries.by_id(ctx.db, ctx.org_id, row["id"])
    )


def _receive(ctx: Ctx, kind: str, payload: Any, reread: Callable[[], sqlite3.Row | None]) -> dict[str, Any]:
    try:
        received = rules.normalize(kind, payload)
    except rules.PayloadError as exc:
        raise ValidationError(f"not a {kind} payload: {exc}") from None
    receipt = _Receipt()
    with ctx.write() as now:
        row = reread()  # rotated or deleted meanwhile
        if row is None:
            raise NotFound("integration")
        intake = _Intake(ctx, row, now)
        for alert in received:
            intake.take(alert, receipt)
    return {"integrationId": row["id"], "accepted": len(received), "alerts": receipt.alerts}


class _Intake:
    """One payload's transaction: the integration's routing and the windows, read once."""

    def __init__(self, ctx: Ctx, row: sqlite3.Row, now: datetime) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.row = row
        self.now = now
        self.ts = to_iso(now)
        self.default, self.selectors, self.severity_map = integrations.routing_of(row)
        self.windows = maintenance.windows_at(ctx.db, ctx.org_id, now)

    def take(self, alert: rules.Alert, receipt: _Receipt) -> None:
        iid = self.row["id"]
        known_row = queries.open_alert(self.db, iid, alert.dedup_key)
        group = None
        if known_row is None and alert.status == "firing":
            group = queries.open_group(self.db, iid, alert.group_key)
        known = None if known_row is None else rules.Known(known_row["status"])
        action = rules.decide(alert, known, group is not None).action
        if action == "open":
            self._open(alert, receipt)
        elif action == "attach":
            assert group is not None
            alert_id = self._insert(alert, group["incident_id"], self._routing(alert)[1])
            queries.add_to_group(self.db, group["incident_id"], self.ts, received=1, firing_delta=1)
            timeline.record(
                self.db, group["incident_id"], self.now, "alert_received", iid, alertId=alert_id,
                dedupKey=alert.dedup_key,
            )  # fmt: skip
            receipt.add(alert_id, group["incident_id"], action)
        elif known_row is None:
            receipt.add(None, None, action)  # "ignore": nothing open to add it to
        else:
            self._known(alert, known_row, action, receipt)

    def _routing(self, alert: rules.Alert) -> tuple[rules.Routing, str]:
        routing = rules.route(self.selectors, alert.labels, self.default)
        severity = rules.map_severity(alert.severity_label, self.severity_map, routing.default_severity)
        return routing, severity

    def _insert(
        self, alert: rules.Alert, incident_id: str | None, severity: str, dropped_by: str | None = None
    ) -> str:
        raw, cut = rules.clip_raw(alert.raw)
        alert_id = new_id("alr", self.now)
        queries.insert_alert(
            self.db,
            {
                "id": alert_id,
                "org_id": self.ctx.org_id,
                "integration_id": self.row["id"],
                "incident_id": incident_id,
                "dedup_key": alert.dedup_key,
                "group_key": alert.group_key,
                "status": "firing",
                "summary": alert.summary,
                "severity": severity,
                "source": alert.source,
                "labels": json.dumps(alert.labels, separators=(",", ":")),
                "annotations": json.dumps(alert.annotations, separators=(",", ":")),
                "links": json.dumps(alert.links, separators=(",", ":")),
                "count": 1,
                "first_seen": self.ts,
                "last_seen": self.ts,
                "dropped_by": dropped_by,
                "raw": raw,
                "raw_truncated": int(cut),
            },
        )
        return alert_id

    def _open(self, alert: rules.Alert, receipt: _Receipt) -> None:
        routing, severity = self._routing(alert)
        verdict = rules.window_verdict(self.windows, self.row["id"], routing.component, self.now)
        if verdict.mode == "drop":
            assert verdict.window is not None
            alert_id = self._insert(alert, None, severity, dropped_by=verdict.window.id)
            receipt.add(alert_id, None, "dropped")
            return
        policy = routing.escalation_policy_id
        if policy is not None and not policy_queries.policy_exists(self.db, self.ctx.org_id, policy):
            policy = None  # deleted since the integration named it: the incident opens unrouted
        description = alert.annotations.get("description") or alert.annotations.get("details")
        body: dict[str, Any] = {
            "title": alert.summary[:100],
            "severity": severity,
            "escalationPolicyId": policy,
        }
        if description:
            body["description"] = description
        incident = incidents.create_incident(self.ctx, body, page=verdict.mode == "page")
        held = verdict.window.id if verdict.window is not None else None
        queries.insert_alert_group(
            self.db,
            {
                "incident_id": incident["id"],
                "org_id": self.ctx.org_id,
                "integration_id": self.row["id"],
                "group_key": alert.group_key,
                "component": routing.component,
                "alert_count": 1,
                "firing_count": 1,
                "first_seen": self.ts,
                "last_seen": self.ts,
                "held_by": held,
            },
        )
        alert_id = self._insert(alert, incident["id"], severity)
        timeline.record(
            self.db, incident["id"], self.now, "alert_received", self.row["id"], alertId=alert_id,
            dedupKey=alert.dedup_key, integrationId=self.row["id"], selector=routing.selector,
        )  # fmt: skip
        if held is not None:
            timeline.record(self.db, incident["id"], self.now, "paging_held", self.row["id"], windowId=held)
        receipt.add(alert_id, incident["id"], "open")

    def _known(self, alert: rules.Alert, known: sqlite3.Row, action: str, receipt: _Receipt) -> None:
        incident_id = known["incident_id"]
        labels = json.dumps(alert.labels, separators=(",", ":"))
        if action == "repeat":
            queries.touch_alert(self.db, known["id"], {"last_seen": self.ts, "labels": labels}, count=1)
            queries.add_to_group(self.db, incident_id, self.ts, received=1, firing_delta=0)
        elif action == "refire":
            queries.touch_alert(
                self.db, known["id"], {"status": "firing", "resolved_at": None, "last_seen": self.ts}, count=1
            )
            queries.add_to_group(self.db, incident_id, self.ts, received=1, firing_delta=1)
            timers.disarm(self.db, RESOLVE_TIMER_KIND, incident_id)
            timeline.record(
                self.db, incident_id, self.now, "alert_refired", self.row["id"], alertId=known["id"]
            )
        elif action == "resolve":
            queries.touch_alert(
                self.db, known["id"], {"status": "resolved", "resolved_at": self.ts, "last_seen": self.ts}
            )
            queries.add_to_group(self.db, incident_id, self.ts, received=0, firing_delta=-1)
            timeline.record(
                self.db, incident_id, self.now, "alert_resolved", self.row["id"], alertId=known["id"]
            )
            self._maybe_resolve(incident_id)
        elif action == "acknowledge":
            # Still counted as firing (a resolve clears it); a resolved alert stays resolved.
            changes = {"last_seen": self.ts}
            if known["status"] == "firing":
                changes["status"] = "acknowledged"
            queries.touch_alert(self.db, known["id"], changes)
            incidents.acknowledge(self.ctx, incident_id)
        receipt.add(known["id"], incident_id, action)

    def _maybe_resolve(self, incident_id: str) -> None:
        group = queries.group(self.db, incident_id)
        assert group is not None
        if not rules.should_resolve(group["firing_count"], bool(self.row["auto_resolve"])):
            return
        flap = int(self.row["flap_window_seconds"])
        if flap == 0:
            _resolve(self.ctx, incident_id, self.row["name"])
        else:
            due = to_epoch_ms(self.now + timedelta(seconds=flap))
            timers.arm(
                self.db,
                org_id=self.ctx.org_id,
                kind=RESOLVE_TIMER_KIND,
                subject_id=incident_id,
                due_at_ms=due,
            )


def _resolve(ctx: Ctx, incident_id: str, integration_name: str) -> None:
    group = queries.group(ctx.db, incident_id)
    count = 0 if group is None else group["alert_count"]
    note = f"Resolved by {integration_name}: every alert of this incident cleared ({count} received)."
    incidents.resolve_from_source(ctx, incident_id, note)


def fire_resolve(db: Database, now: datetime, timer: Timer) -> int | None:
    """Timer handler (kind ``alert_resolve``): the flap window after an incident's last alert cleared has
    passed; resolve it if none fired again meanwhile."""
    group = queries.group(db, timer.subject_id)
    row = integration_queries.any_row(db, group["integration_id"]) if group is not None else None
    if group is None or row is None or group["firing_count"] > 0:
        return None
    ctx = Ctx(db=db, org_id=timer.org_id, actor_id=row["id"], clock=VirtualClock(now))
    _resolve(ctx, timer.subject_id, row["name"])
    return None
