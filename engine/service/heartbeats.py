"""Heartbeat monitors (dead man's switches): something that should ping every N minutes and pages when it
stops (docs/ALERTS.md, "Heartbeats").

A heartbeat has a name, an escalation policy, an interval and a grace (minutes), a severity, and a secret
ping token (returned once by :func:`create_heartbeat` and :func:`rotate_token`, stored as its SHA-256 hash).
Its due time, ``last ping (or creation) + interval + grace``, is the heartbeat's row in the engine's
``timers`` table (kind :data:`TIMER_KIND`), so it survives a crash and fires once: :func:`fire_missed`
opens an incident on the policy (paging layer 1 in the engine's transaction) and the timer is deleted.
The next ping (:func:`ping_by_token`, :func:`ping_heartbeat`) resolves that incident with a note and arms
the timer again.

Status (wire ``status``): ``waiting`` (never pinged, armed from creation), ``up`` (pinged, armed),
``down`` (missed: ``incidentId`` names the incident it opened; nothing more fires until the next ping).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET

from engine.clock import Clock, VirtualClock
from engine.errors import DomainError, NameConflict, NotFound
from engine.ids import new_id
from engine.service import Ctx, incidents, responses
from engine.service.models import HeartbeatCreate, HeartbeatUpdate
from engine.service.responses import wire
from engine.service.validate import decode
from engine.timefmt import from_epoch_ms, parse_iso, to_epoch_ms, to_iso
from storage.db import Database
from storage.db_clock import write_at
from storage.queries import heartbeats as queries
from storage.queries import timers

TIMER_KIND = "heartbeat"
TOKEN_PREFIX = "hbt_"
PING_PATH = "/v1/integrations/inbound/heartbeats/{token}"
"""Where ``oncall serve`` takes pings (``POST`` or ``GET``, no API key: the token is the secret)."""
DEFAULT_GRACE_MINUTES = 5
DEFAULT_SEVERITY = "high"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def ping_path(token: str) -> str:
    """The path a heartbeat's pings go to on ``oncall serve``."""
    return PING_PATH.format(token=token)


# -- wire form -----------------------------------------------------------------------------------


def _status(row: sqlite3.Row) -> str:
    if row["incident_id"] is not None:
        return "down"
    return "waiting" if row["last_ping_at"] is None else "up"


def _fields(db: Database, row: sqlite3.Row) -> dict[str, Any]:
    timer = timers.get(db, TIMER_KIND, row["id"])
    return {
        "id": row["id"],
        "org_id": row["org_id"],
        "name": row["name"],
        "escalation_policy_id": row["escalation_policy_id"],
        "severity": row["severity"],
        "interval_minutes": row["interval_minutes"],
        "grace_minutes": row["grace_minutes"],
        "status": _status(row),
        "last_ping_at": row["last_ping_at"],
        "ping_count": row["ping_count"],
        "due_at": None if timer is None else to_iso(from_epoch_ms(timer.due_at_ms)),
        "incident_id": row["incident_id"],
        "token": "hbt_…" + row["token_last4"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _wire(db: Database, row: sqlite3.Row) -> dict[str, Any]:
    """The heartbeat in wire form (:class:`~engine.service.responses.Heartbeat`), its token masked."""
    return wire(responses.Heartbeat(**_fields(db, row)))


def _with_token(db: Database, row: sqlite3.Row, token: str) -> dict[str, Any]:
    """The wire form with the plain token and its ping path (:class:`~engine.service.responses.
    HeartbeatWithToken`): only in the answer that minted it."""
    fields = {**_fields(db, row), "token": token}
    return wire(responses.HeartbeatWithToken(**fields, ping_path=ping_path(token)))


# -- reads ---------------------------------------------------------------------------------------


def _row(ctx: Ctx, heartbeat_id: str) -> sqlite3.Row:
    row = queries.heartbeat_row(ctx.db, ctx.org_id, heartbeat_id)
    if row is None:
        raise NotFound("heartbeat", heartbeat_id)
    return row


def list_heartbeats(ctx: Ctx) -> list[dict[str, Any]]:
    """The organisation's heartbeats by name, in wire form (tokens masked)."""
    with ctx.db.read():
        return [_wire(ctx.db, r) for r in queries.heartbeat_rows(ctx.db, ctx.org_id)]


def get_heartbeat(ctx: Ctx, heartbeat_id: str) -> dict[str, Any]:
    """One heartbeat in wire form; 404 ``not_found`` outside the organisation."""
    with ctx.db.read():
        return _wire(ctx.db, _row(ctx, heartbeat_id))


def down_count(ctx: Ctx) -> int:
    """How many of the organisation's heartbeats are down (for a status bar: one cheap read)."""
    with ctx.db.read():
        return queries.down_count(ctx.db, ctx.org_id)


def find_heartbeat(ctx: Ctx, ident: str) -> dict[str, Any]:
    """By id or by exact name (as people type it on the command line); 404 ``not_found`` otherwise."""
    with ctx.db.read():
        row = queries.heartbeat_row(ctx.db, ctx.org_id, ident) or queries.heartbeat_by_name(
            ctx.db, ctx.org_id, ident
        )
        if row is None:
            raise NotFound("heartbeat", ident)
        return _wire(ctx.db, row)


# -- writes --------------------------------------------------------------------------------------


def _given(value: Any, default: Any) -> Any:
    """A model field's value, ``default`` when the body left it out."""
    return default if value is UNSET else value


def _check_policy(ctx: Ctx, policy_id: str) -> None:
    if queries.policy_name(ctx.db, ctx.org_id, policy_id) is None:
        raise DomainError(
            "invalid_escalation_policy",
            f"escalation policy {policy_id!r} does not exist in this organisation",
        )


def _check_name(ctx: Ctx, name: str, heartbeat_id: str | None = None) -> None:
    other = queries.heartbeat_by_name(ctx.db, ctx.org_id, name)
    if other is not None and other["id"] != heartbeat_id:
        raise NameConflict(f"a heartbeat named {name!r} already exists")


def _arm(db: Database, row: sqlite3.Row) -> None:
    """Arm the heartbeat's timer at ``last ping (or creation) + interval + grace``."""
    since = parse_iso(row["last_ping_at"] or row["created_at"])
    due = since + timedelta(minutes=row["interval_minutes"] + row["grace_minutes"])
    timers.arm(db, org_id=row["org_id"], kind=TIMER_KIND, subject_id=row["id"], due_at_ms=to_epoch_ms(due))


def create_heartbeat(ctx: Ctx, body: Any) -> dict[str, Any]:
    """Create a heartbeat and arm its timer from now. Returns the wire form with the plain ``token`` and
    its ``pingPath``, the only time they are shown. 422 on a bad body, 400 ``invalid_escalation_policy``,
    409 ``name_conflict``."""
    checked = decode(HeartbeatCreate, body)
    token = _new_token()
    with ctx.write() as now:
        _check_policy(ctx, checked.escalation_policy_id)
        _check_name(ctx, checked.name)
        hid = new_id("hb", now)
        ts = to_iso(now)
        queries.insert(
            ctx.db,
            {
                "id": hid,
                "org_id": ctx.org_id,
                "name": checked.name,
                "escalation_policy_id": checked.escalation_policy_id,
                "severity": _given(checked.severity, DEFAULT_SEVERITY),
                "interval_minutes": checked.interval_minutes,
                "grace_minutes": _given(checked.grace_minutes, DEFAULT_GRACE_MINUTES),
                "token_hash": _hash(token),
                "token_last4": token[-4:],
                "created_at": ts,
                "updated_at": ts,
            },
        )
        row = _row(ctx, hid)
        _arm(ctx.db, row)
        return _with_token(ctx.db, row, token)


def update_heartbeat(ctx: Ctx, heartbeat_id: str, body: Any) -> dict[str, Any]:
    """Change a heartbeat's name, policy, interval, grace or severity. A new interval or grace moves the
    due time of a heartbeat that is not down (from its last ping, or its creation): if that is already
    past, the engine fires it at once."""
    checked = decode(HeartbeatUpdate, body)
    with ctx.write() as now:
        row = _row(ctx, heartbeat_id)
        changes: dict[str, Any] = {}
        if (name := _given(checked.name, None)) is not None:
            _check_name(ctx, name, heartbeat_id)
            changes["name"] = name
        if (policy_id := _given(checked.escalation_policy_id, None)) is not None:
            _check_policy(ctx, policy_id)
            changes["escalation_policy_id"] = policy_id
        for field in ("interval_minutes", "grace_minutes", "severity"):
            if (value := _given(getattr(checked, field), None)) is not None:
                changes[field] = value
        if changes:
            changes["updated_at"] = to_iso(now)
            queries.update(ctx.db, heartbeat_id, changes)
            row = _row(ctx, heartbeat_id)
            if row["incident_id"] is None and {"interval_minutes", "grace_minutes"} & changes.keys():
                _arm(ctx.db, row)
        return _wire(ctx.db, row)


def rotate_token(ctx: Ctx, heartbeat_id: str) -> dict[str, Any]:
    """Replace the ping token: the old one stops working at once. Returns the wire form with the new
    plain ``token`` and ``pingPath``, shown once. The due time does not move."""
    token = _new_token()
    with ctx.write() as now:
        _row(ctx, heartbeat_id)
        queries.update(
            ctx.db,
            heartbeat_id,
            {"token_hash": _hash(token), "token_last4": token[-4:], "updated_at": to_iso(now)},
        )
        return _with_token(ctx.db, _row(ctx, heartbeat_id), token)


def delete_heartbeat(ctx: Ctx, heartbeat_id: str) -> None:
    """Delete a heartbeat and disarm its timer. An incident it opened stays as it is (resolve it by hand)."""
    with ctx.write():
        _row(ctx, heartbeat_id)
        timers.disarm(ctx.db, TIMER_KIND, heartbeat_id)
        queries.delete(ctx.db, heartbeat_id)


# -- pings ---------------------------------------------------------------------------------------


def _record_ping(ctx: Ctx, row: sqlite3.Row, now: datetime) -> dict[str, Any]:
    """Inside a write: note the ping, resolve the incident a missed interval opened, arm the timer again."""
    resolved = None
    incident_id = row["incident_id"]
    if incident_id is not None:
        silent = _minutes(now - parse_iso(row["last_ping_at"] or row["created_at"]))
        note = f"Heartbeat {row['name']} pinged again at {to_iso(now)} after {silent} min without a ping."
        if queries.incident_status(ctx.db, incident_id) not in (None, "resolved"):
            incidents.resolve_from_source(ctx, incident_id, note)
            resolved = incident_id
    queries.record_ping(ctx.db, row["id"], to_iso(now))
    fresh = queries.heartbeat_by_id(ctx.db, row["id"])
    assert fresh is not None
    _arm(ctx.db, fresh)
    timer = timers.get(ctx.db, TIMER_KIND, row["id"])
    assert timer is not None
    answer = responses.HeartbeatPing(
        heartbeat_id=row["id"],
        status="up",
        due_at=to_iso(from_epoch_ms(timer.due_at_ms)),
        resolved_incident_id=resolved,
    )
    return wire(answer)


def check_token(db: Database, token: str) -> None:
    """404 ``not_found`` unless ``token`` is a heartbeat's current ping token (one read, no write): how
    the ping URL is authenticated before anything else."""
    digest = _hash(token)
    with db.read():
        row = queries.heartbeat_by_token_hash(db, digest)
    if row is None or not secrets.compare_digest(row["token_hash"], digest):
        raise NotFound("heartbeat")


def ping_by_token(db: Database, token: str, clock: Clock) -> dict[str, Any]:
    """A ping from the monitored job, authenticated by its token alone (``oncall serve``'s ping URL).

    One write transaction. Returns ``{heartbeatId, status: "up", dueAt, resolvedIncidentId}``
    (``resolvedIncidentId``: the incident this ping resolved, or null). 404 ``not_found`` for a token that
    is unknown or was rotated away (the same answer either way)."""
    digest = _hash(token)
    with write_at(db, clock) as now:
        row = queries.heartbeat_by_token_hash(db, digest)
        if row is None or not secrets.compare_digest(row["token_hash"], digest):
            raise NotFound("heartbeat")
        ctx = Ctx(db=db, org_id=row["org_id"], actor_id=None, clock=clock, via="api_key")
        return _record_ping(ctx, row, now)


def ping_heartbeat(ctx: Ctx, heartbeat_id: str) -> dict[str, Any]:
    """A ping by whoever manages the heartbeat (``oncall heartbeats ping``): as :func:`ping_by_token`."""
    with ctx.write() as now:
        return _record_ping(ctx, _row(ctx, heartbeat_id), now)


# -- the engine's side ---------------------------------------------------------------------------


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


TITLE_MAX = 100  # IncidentCreate's title limit


def _title(name: str, silent: int, late: int) -> str:
    """``Heartbeat NAME missed: no ping for 70 min, 10 min late``, the name shortened to fit the limit."""
    tail = f" missed: no ping for {silent} min, {late} min late"
    room = TITLE_MAX - len("Heartbeat ") - len(tail)
    shown = name if len(name) <= room else name[: room - 1] + "…"
    return f"Heartbeat {shown}{tail}"


def fire_missed(db: Database, at: datetime, timer: timers.Timer) -> int | None:
    """The ``heartbeat`` timer handler (:data:`engine.service.timer_kinds.HANDLERS`), inside the engine's
    write transaction at instant ``at``: the interval and grace went by without a ping, so open an incident
    on the heartbeat's policy (which pages layer 1 in this transaction) titled with the heartbeat's name
    and how late its ping is. Returns None: the timer is deleted, and nothing more fires until a ping
    arms it again. A heartbeat that is gone, or already down, opens nothing."""
    row = queries.heartbeat_by_id(db, timer.subject_id)
    if row is None or row["incident_id"] is not None:
        return None
    since = parse_iso(row["last_ping_at"] or row["created_at"])
    expected = since + timedelta(minutes=row["interval_minutes"])
    late = _minutes(at - expected)
    ctx = Ctx(db=db, org_id=row["org_id"], actor_id=None, clock=VirtualClock(at), via="operator")
    policy_id = row["escalation_policy_id"]
    policy = queries.policy_name(db, row["org_id"], policy_id)
    last = row["last_ping_at"] or "never (created " + row["created_at"] + ")"
    description = (
        f"Heartbeat {row['name']} ({row['id']}) expects a ping every {row['interval_minutes']} min with "
        f"{row['grace_minutes']} min of grace. Last ping: {last}. Expected by {to_iso(expected)}; "
        f"missed at {to_iso(at)}. The next ping resolves this incident."
    )
    body: dict[str, Any] = {
        "title": _title(row["name"], _minutes(at - since), late),
        "severity": row["severity"],
        "description": description,
    }
    if policy is not None:
        body["escalationPolicyId"] = policy_id
    else:
        body["description"] += f" Its escalation policy {policy_id} no longer exists: nobody was paged."
    incident = incidents.create_incident(ctx, body)
    queries.update(db, row["id"], {"incident_id": incident["id"], "updated_at": to_iso(at)})
    return None
