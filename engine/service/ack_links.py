"""Acknowledge from the page: the use cases behind ``GET``/``POST /ack/{token}`` (console/api/ack_page.py).

A page carries ``<public URL>/ack/<token>`` when the operator configured a public URL
(engine/runtime/delivery.py mints it; engine/ack_links.py is the token). :func:`inspect` tells what the
link would do (the confirmation page), :func:`acknowledge` does it, once:

* a token that is malformed or whose signature does not match: 403 ``invalid_ack_link``;
* an expired one: 410 ``ack_link_expired``;
* the person was removed from the organisation (or the incident is gone): 403 ``invalid_ack_link``;
* a token already used: 409 ``already_acknowledged`` (the replay changes nothing);
* the incident already acknowledged (by anyone) or resolved: 409 ``already_acknowledged`` /
  ``incident_resolved``, and the token counts as used.

Otherwise the incident is acknowledged as the token's person, exactly as if they pressed ``a`` in the
console (the escalation stops, the pages waiting are cancelled); the timeline's
``incident_acknowledged`` event names them and says ``via: "acknowledge link"``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine import ack_links
from engine.clock import Clock
from engine.errors import DomainError
from engine.runtime.operator_config import OperatorConfig
from engine.service import Ctx
from engine.service.orgs import display_name
from engine.timefmt import to_epoch_ms, to_iso
from storage.db import Database
from storage.db_clock import write_at
from storage.queries import incidents as incident_rows
from storage.queries import pages as page_rows


class AckLinkRefused(DomainError):
    """The link cannot acknowledge anything: forged, malformed, expired, or for a removed person."""

    status_code = 403
    type = "invalid_request_error"

    def __init__(self, code: str, message: str, status_code: int = 403) -> None:
        super().__init__(code, message)
        self.status_code = status_code


class AlreadyDone(DomainError):
    """The link was used already, or the incident needs no acknowledgement any more (409)."""

    status_code = 409


def _claim(db: Database, token: str, now_ms: int) -> ack_links.AckClaim:
    try:
        return ack_links.read(page_rows.link_key(db), token, now_ms)
    except ack_links.BadToken as exc:
        expired = "expired" in exc.reason
        raise AckLinkRefused(
            "ack_link_expired" if expired else "invalid_ack_link", exc.reason, 410 if expired else 403
        ) from None


def _subjects(db: Database, claim: ack_links.AckClaim) -> tuple[sqlite3.Row, sqlite3.Row]:
    incident = page_rows.incident_any_org(db, claim.incident_id)
    person = incident_rows.user_row(db, claim.user_id)
    if incident is None or person is None or person["org_id"] != incident["org_id"]:
        raise AckLinkRefused("invalid_ack_link", "this acknowledge link names nothing that exists here")
    if person["removed_at"] is not None:
        raise AckLinkRefused(
            "invalid_ack_link",
            f"{display_name(person)} is no longer in the organisation; the link does nothing",
        )
    return incident, person


def _view(incident: sqlite3.Row, person: sqlite3.Row, state: str, message: str) -> dict[str, Any]:
    return {
        "state": state,
        "message": message,
        "incident": {
            "id": incident["id"],
            "number": incident["seq"],
            "title": incident["title"],
            "severity": incident["severity"],
            "status": incident["status"],
        },
        "person": {"id": person["id"], "name": display_name(person)},
    }


def _state(db: Database, claim: ack_links.AckClaim, incident: sqlite3.Row) -> tuple[str, str] | None:
    """Why the link cannot acknowledge now (``(code, message)``), or None when it can."""
    used = page_rows.ack_link_use(db, claim.token_id)
    if used is not None:
        return "already_acknowledged", f"this link was already used ({used['used_at']}): {used['outcome']}"
    if incident["status"] == "resolved":
        return "incident_resolved", "the incident is resolved; there is nothing to acknowledge"
    if incident["acknowledged_at"] is not None:
        who = incident_rows.user_row(db, incident["acknowledged_by"] or "")
        by = f" by {display_name(who)}" if who is not None else ""
        return (
            "already_acknowledged",
            f"the incident was already acknowledged{by} at {incident['acknowledged_at']}",
        )
    return None


def inspect(db: Database, clock: Clock, token: str) -> dict[str, Any]:
    """What the link would do, for its confirmation page: ``{"state": "ready" | "already_acknowledged" |
    "incident_resolved", "message", "incident": {"id", "number", "title", "severity", "status"},
    "person": {"id", "name"}}``. Raises :class:`AckLinkRefused` (403/410) for a link that is not genuine,
    has expired or names a removed person. Reads only."""
    claim = _claim(db, token, to_epoch_ms(clock.now()))
    incident, person = _subjects(db, claim)
    why = _state(db, claim, incident)
    if why is not None:
        return _view(incident, person, why[0], why[1])
    return _view(
        incident, person, "ready", f"acknowledge incident #{incident['seq']} as {display_name(person)}"
    )


def acknowledge(db: Database, clock: Clock, config: OperatorConfig, token: str) -> dict[str, Any]:
    """Acknowledge the link's incident as its person, once; answers :func:`inspect`'s shape with state
    ``acknowledged``. Raises :class:`AckLinkRefused` (403/410) and :class:`AlreadyDone` (409, code
    ``already_acknowledged`` or ``incident_resolved``: a replay, or nothing left to acknowledge).

    One write transaction: the token's use is recorded with the acknowledgement, so two clicks racing
    acknowledge once and the second is refused."""
    from engine.service import incidents

    with write_at(db, clock) as now:
        claim = _claim(db, token, to_epoch_ms(now))
        incident, person = _subjects(db, claim)
        why = _state(db, claim, incident)
        if why is not None:
            if page_rows.ack_link_use(db, claim.token_id) is None:
                page_rows.record_ack_link_use(
                    db, claim.token_id, incident["id"], person["id"], to_iso(now), f"not needed: {why[1]}"
                )
                # the refusal must be kept: commit it by leaving normally, then refuse
                refusal: AlreadyDone | None = AlreadyDone(why[0], why[1])
            else:
                refusal = AlreadyDone(why[0], why[1])
        else:
            refusal = None
            ctx = Ctx(
                db=db,
                org_id=incident["org_id"],
                actor_id=person["id"],
                actor_user_id=person["id"],
                is_admin=False,
                clock=clock,
                via="ack_link",
                config=config,
            )
            incidents.acknowledge(ctx, incident["id"])
            name = display_name(person)
            page_rows.record_ack_link_use(
                db, claim.token_id, incident["id"], person["id"], to_iso(now), f"acknowledged by {name}"
            )
            incident = page_rows.incident_any_org(db, incident["id"]) or incident
    if refusal is not None:
        raise refusal
    return _view(
        incident,
        person,
        "acknowledged",
        f"incident #{incident['seq']} acknowledged by {display_name(person)}",
    )
