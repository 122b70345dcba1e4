"""Inbound integrations: where monitoring sends alerts (docs/ALERTS.md).

An integration has a name, a kind (``alertmanager``, ``grafana``, ``events``), a secret URL token, a default
routing (an escalation policy, a component, a default severity) and ordered selectors that override it.
The token is shown once, on create and on rotate (``receivePath``: ``/v1/integrations/inbound/<token>/alerts``),
and only its SHA-256 is stored; rotating replaces it (the old URL stops at once); deleting revokes it and
keeps the row for the alerts that name it.

Wire form (:func:`integration_wire`): ``{id, orgId, name, kind, escalationPolicyId, component, severity,
severityMap, selectors: [{matchers: [{key, value}], escalationPolicyId?, component?, severity?}],
autoResolve, flapWindowSeconds, tokenLast4, createdAt, updatedAt}``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from typing import Any

from msgspec import UNSET

from engine import alerts as rules
from engine.errors import NameConflict, NotFound
from engine.ids import new_id
from engine.service import Ctx
from engine.service.models import IntegrationCreate, IntegrationUpdate, RoutingSelector, SelectorsReplace
from engine.service.validate import decode
from engine.timefmt import to_iso
from storage.queries import integrations as queries
from storage.queries import policies as policy_queries

TOKEN_PREFIX = "inb_"
RECEIVE_PATH = "/v1/integrations/inbound/{token}/alerts"
DEFAULT_SEVERITY = "high"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)[:32]


def _selector_wire(sel: dict[str, Any]) -> dict[str, Any]:
    """A stored selector on the wire: only the routing fields it sets (one left out inherits the default)."""
    out: dict[str, Any] = {"matchers": [{"key": k, "value": v} for k, v in sel["matchers"]]}
    for name in ("escalationPolicyId", "component", "severity"):
        if name in sel:
            out[name] = sel[name]
    return out


def integration_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "orgId": row["org_id"],
        "name": row["name"],
        "kind": row["kind"],
        "escalationPolicyId": row["escalation_policy_id"],
        "component": row["component"],
        "severity": row["default_severity"],
        "severityMap": json.loads(row["severity_map"]),
        "selectors": [_selector_wire(s) for s in json.loads(row["selectors"])],
        "autoResolve": bool(row["auto_resolve"]),
        "flapWindowSeconds": row["flap_window_seconds"],
        "tokenLast4": row["token_last4"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _with_token(row: sqlite3.Row, token: str) -> dict[str, Any]:
    return {**integration_wire(row), "token": token, "receivePath": RECEIVE_PATH.format(token=token)}


def routing_of(row: sqlite3.Row) -> tuple[rules.Routing, list[rules.Selector], dict[str, str]]:
    """The integration row's default routing, its selectors (a field a selector leaves out is the
    default's) and its severity map, as the pure rules take them."""
    default = rules.Routing(row["escalation_policy_id"], row["component"], row["default_severity"])
    selectors = [
        rules.Selector(
            tuple((k, v) for k, v in s["matchers"]),
            rules.Routing(
                s.get("escalationPolicyId", default.escalation_policy_id),
                s.get("component", default.component),
                s.get("severity", default.default_severity),
            ),
        )
        for s in json.loads(row["selectors"])
    ]
    return default, selectors, json.loads(row["severity_map"])


def _stored_selectors(ctx: Ctx, selectors: list[RoutingSelector]) -> str:
    """Selectors as stored: matchers as pairs, and only the routing fields given (null included)."""
    out = []
    for sel in selectors:
        stored: dict[str, Any] = {"matchers": [[m.key, m.value] for m in sel.matchers]}
        if sel.escalation_policy_id is not UNSET:
            policy = sel.escalation_policy_id
            if policy is not None and not policy_queries.policy_exists(ctx.db, ctx.org_id, policy):
                raise NotFound("escalation policy", policy)
            stored["escalationPolicyId"] = policy
        if sel.component is not UNSET:
            stored["component"] = sel.component
        if sel.severity is not UNSET:
            stored["severity"] = sel.severity
        out.append(stored)
    return json.dumps(out, separators=(",", ":"))


def integration_row(ctx: Ctx, ident: str) -> sqlite3.Row:
    """The organisation's live integration by id or name; 404 ``not_found`` otherwise."""
    return _row(ctx, ident)


def _row(ctx: Ctx, ident: str) -> sqlite3.Row:
    row = queries.by_id(ctx.db, ctx.org_id, ident) or queries.by_name(ctx.db, ctx.org_id, ident)
    if row is None:
        raise NotFound("integration", ident)
    return row


def create_integration(ctx: Ctx, body: Any) -> dict[str, Any]:
    """Create an integration; the answer carries ``token`` and ``receivePath`` (shown this once).

    Raises 422 for a bad body, 404 for an unknown escalation policy (default or in a selector), 409
    ``name_conflict`` for a name in use."""
    checked = decode(IntegrationCreate, body)
    token = _new_token()
    with ctx.write() as now:
        policy = None if checked.escalation_policy_id is UNSET else checked.escalation_policy_id
        if policy is not None and not policy_queries.policy_exists(ctx.db, ctx.org_id, policy):
            raise NotFound("escalation policy", policy)
        if queries.by_name(ctx.db, ctx.org_id, checked.name) is not None:
            raise NameConflict(f"an integration named {checked.name!r} already exists")
        selectors = _stored_selectors(ctx, [] if checked.selectors is UNSET else checked.selectors)
        iid = new_id("int", now)
        ts = to_iso(now)
        queries.insert_integration(
            ctx.db,
            {
                "id": iid,
                "org_id": ctx.org_id,
                "name": checked.name,
                "kind": checked.kind,
                "token_hash": hash_token(token),
                "token_last4": token[-4:],
                "escalation_policy_id": policy,
                "component": None if checked.component is UNSET else checked.component,
                "default_severity": DEFAULT_SEVERITY if checked.severity is UNSET else checked.severity,
                "severity_map": json.dumps({} if checked.severity_map is UNSET else checked.severity_map),
                "selectors": selectors,
                "auto_resolve": int(True if checked.auto_resolve is UNSET else checked.auto_resolve),
                "flap_window_seconds": 0
                if checked.flap_window_seconds is UNSET
                else checked.flap_window_seconds,
                "created_by": ctx.actor_id,
                "created_at": ts,
                "updated_at": ts,
            },
        )
        return _with_token(_row(ctx, iid), token)


def list_integrations(ctx: Ctx) -> list[dict[str, Any]]:
    """The organisation's integrations (never their tokens), oldest first."""
    with ctx.db.read():
        return [integration_wire(r) for r in queries.live_rows(ctx.db, ctx.org_id)]


def get_integration(ctx: Ctx, ident: str) -> dict[str, Any]:
    """One integration by id or name; 404 ``not_found`` otherwise."""
    with ctx.db.read():
        return integration_wire(_row(ctx, ident))


def update_integration(ctx: Ctx, ident: str, body: Any) -> dict[str, Any]:
    """Change the fields given (``selectors`` replaces the whole list); the token does not change."""
    checked = decode(IntegrationUpdate, body)
    with ctx.write() as now:
        row = _row(ctx, ident)
        changes: dict[str, Any] = {}
        if checked.name is not UNSET and checked.name != row["name"]:
            if queries.by_name(ctx.db, ctx.org_id, checked.name) is not None:
                raise NameConflict(f"an integration named {checked.name!r} already exists")
            changes["name"] = checked.name
        if checked.escalation_policy_id is not UNSET:
            policy = checked.escalation_policy_id
            if policy is not None and not policy_queries.policy_exists(ctx.db, ctx.org_id, policy):
                raise NotFound("escalation policy", policy)
            changes["escalation_policy_id"] = policy
        if checked.component is not UNSET:
            changes["component"] = checked.component
        if checked.severity is not UNSET:
            changes["default_severity"] = checked.severity
        if checked.severity_map is not UNSET:
            changes["severity_map"] = json.dumps(checked.severity_map)
        if checked.selectors is not UNSET:
            changes["selectors"] = _stored_selectors(ctx, checked.selectors)
        if checked.auto_resolve is not UNSET:
            changes["auto_resolve"] = int(checked.auto_resolve)
        if checked.flap_window_seconds is not UNSET:
            changes["flap_window_seconds"] = checked.flap_window_seconds
        if changes:
            changes["updated_at"] = to_iso(now)
            queries.update_integration(ctx.db, row["id"], changes)
        return integration_wire(_row(ctx, row["id"]))


def replace_selectors(ctx: Ctx, ident: str, body: Any) -> dict[str, Any]:
    """``PUT …/{id}/selectors``: the integration's ordered selectors, replaced whole (as Scaling does)."""
    checked = decode(SelectorsReplace, body)
    with ctx.write() as now:
        row = _row(ctx, ident)
        queries.update_integration(
            ctx.db,
            row["id"],
            {"selectors": _stored_selectors(ctx, checked.selectors), "updated_at": to_iso(now)},
        )
        return integration_wire(_row(ctx, row["id"]))


def rotate_token(ctx: Ctx, ident: str) -> dict[str, Any]:
    """A new URL token (shown once in the answer, with ``receivePath``); the old one stops working now."""
    token = _new_token()
    with ctx.write() as now:
        row = _row(ctx, ident)
        queries.update_integration(
            ctx.db,
            row["id"],
            {"token_hash": hash_token(token), "token_last4": token[-4:], "updated_at": to_iso(now)},
        )
        return _with_token(_row(ctx, row["id"]), token)


def delete_integration(ctx: Ctx, ident: str) -> None:
    """Revoke the token and retire the integration (its alerts and incidents stay; its name is free)."""
    with ctx.write() as now:
        row = _row(ctx, ident)
        ts = to_iso(now)
        queries.update_integration(
            ctx.db, row["id"], {"token_hash": None, "deleted_at": ts, "updated_at": ts}
        )


SAMPLES: dict[str, Any] = {
    "alertmanager": {
        "version": "4",
        "groupKey": '{}:{alertname="OncallTest"}',
        "status": "firing",
        "receiver": "oncall",
        "groupLabels": {"alertname": "OncallTest"},
        "commonLabels": {"alertname": "OncallTest", "severity": "warning"},
        "commonAnnotations": {"summary": "Test alert from oncall integrations test"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "OncallTest", "severity": "warning", "instance": "test"},
                "annotations": {"summary": "Test alert from oncall integrations test"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": "oncalltest000001",
            }
        ],
    },
    "grafana": {
        "receiver": "oncall",
        "status": "firing",
        "orgId": 1,
        "groupKey": '{}/{}:{alertname="OncallTest"}',
        "groupLabels": {"alertname": "OncallTest"},
        "commonLabels": {"alertname": "OncallTest", "severity": "warning"},
        "externalURL": "http://grafana.example:3000/",
        "version": "1",
        "title": "[FIRING:1] OncallTest",
        "state": "alerting",
        "message": "Test alert from oncall integrations test",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "OncallTest", "severity": "warning"},
                "annotations": {"summary": "Test alert from oncall integrations test"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana.example:3000/alerting/grafana/test/view",
                "fingerprint": "oncalltest000002",
                "silenceURL": "http://grafana.example:3000/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"A": 1},
            }
        ],
    },
    "events": {
        "action": "trigger",
        "dedupKey": "oncall-test",
        "summary": "Test alert from oncall integrations test",
        "severity": "warning",
        "source": "oncall",
        "details": {"sentBy": "oncall integrations test"},
    },
}
"""A sample payload of each kind (what ``oncall integrations test`` sends)."""


def sample_payload(kind: str, *, resolved: bool = False) -> Any:
    """A copy of :data:`SAMPLES`'s payload for ``kind``, firing or (``resolved``) cleared."""
    payload = json.loads(json.dumps(SAMPLES[kind]))
    if resolved:
        if kind == "events":
            payload["action"] = "resolve"
        else:
            payload["status"] = "resolved"
            for alert in payload["alerts"]:
                alert["status"] = "resolved"
    return payload
