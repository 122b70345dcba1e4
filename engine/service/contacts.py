"""Contact methods: how a user is paged (local extension; never sent to the remote service).

Channels: ``log`` (the timeline only; what a user with no contact method gets), ``webhook`` (an HTTP(S)
URL receiving a signed JSON page; see :mod:`engine.runtime.delivery`) and ``command`` (a program run with the
page as JSON on stdin). A webhook's HMAC secret is generated when not given and shown only once, in the
answer to its creation.

Who may do what (``ctx.via``, see :class:`engine.service.Ctx`):

* ``command`` methods run a program on this machine, so only the machine's operator (the CLI or the
  console) creates, changes or removes them; through an API key, admin or member, that is 403
  ``operator_only``. Reading them is open to whoever may read the user's methods.
* A webhook address set through an API key must be public or on the operator's allow-list
  (:mod:`engine.runtime.webhook_targets`), else 422 on ``address``; the operator may set any well-formed one.
  Every address is stored with who set it (``address_set_via``) so delivery re-checks API-set ones.
* An admin key manages anyone's other methods; a member key only its own user's (401 ``not_authorized``
  otherwise, the API's answer for member-vs-admin).
"""

from __future__ import annotations

import secrets
import shlex
import sqlite3
from typing import Any, get_args

from msgspec import UNSET

from engine.errors import Forbidden, NotFound, Unauthorized, ValidationError
from engine.ids import new_id
from engine.runtime.webhook_targets import check_webhook_target, parse_webhook_url
from engine.service import Ctx, responses
from engine.service.models import Channel, ContactMethodCreate, ContactMethodUpdate
from engine.service.orgs import get_user_row
from engine.service.responses import wire
from engine.service.validate import decode, decode_field
from engine.timefmt import to_iso

CHANNELS: tuple[str, ...] = get_args(Channel)
OPERATOR_ONLY = "operator_only"


def _may_manage(ctx: Ctx, user_id: str) -> None:
    """A member key acts on its own user only (the operator and admins on anyone)."""
    if not ctx.is_operator and not ctx.is_admin and ctx.actor_user_id != user_id:
        raise Unauthorized(
            "not_authorized", "a member API key may only act on its own user; this needs an org:admin API key"
        )


def _operator_only(ctx: Ctx, channel: str, verb: str) -> None:
    if channel == "command" and not ctx.is_operator:
        raise Forbidden(
            OPERATOR_ONLY,
            f"command contact methods run a program on the server, so only the machine's operator may "
            f"{verb} them: use `oncall users contacts …` on that machine (no API key may, admin included)",
        )


def contact_wire(row: sqlite3.Row, *, secret: str | None = None) -> dict[str, Any]:
    """A contact method in wire form (:class:`~engine.service.responses.ContactMethod`); with ``secret``
    (a new webhook's, shown once) a :class:`~engine.service.responses.ContactMethodCreated`."""
    fields: dict[str, Any] = {
        "id": row["id"],
        "user_id": row["user_id"],
        "channel": row["channel"],
        "address": row["address"],
        "has_secret": bool(row["secret"]),
        "created_at": row["created_at"],
    }
    if secret is not None:
        return wire(responses.ContactMethodCreated(**fields, secret=secret))
    return wire(responses.ContactMethod(**fields))


def _address(ctx: Ctx, channel: str, value: Any) -> str | None:
    """The ``address`` for ``channel``: none for log, a checked URL for a webhook, a command line that
    parses for a command; 422 on ``address`` otherwise."""
    if channel == "log":
        if value is not None:
            raise ValidationError("a log contact method takes no address", field="address")
        return None
    if value is None:
        raise ValidationError("address is required", field="address")
    text: str = decode_field(ContactMethodCreate, "address", value)
    if channel == "webhook":
        url = parse_webhook_url(text)
        if not ctx.is_operator:
            check_webhook_target(url, ctx.config.webhooks)
    else:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise ValidationError(f"command cannot be parsed: {exc}", field="address") from None
        if not argv:
            raise ValidationError("command must not be empty", field="address")
    return text


def add_contact_method(ctx: Ctx, user_id: str, body: Any) -> dict[str, Any]:
    """Add a method to ``user_id``; answers its wire form (with ``secret`` for a webhook, this once).

    Raises 401 ``not_authorized`` (a member key on another user), 403 ``operator_only`` (a command not
    from the operator), 422 ``validation_error`` (body; a webhook address that is malformed or, through
    an API key, not allowed), 404 (no such active user).
    """
    _may_manage(ctx, user_id)
    checked = decode(ContactMethodCreate, body, later={"address", "secret"})
    channel = checked.channel
    _operator_only(ctx, channel, "add")
    address = _address(ctx, channel, None if checked.address is UNSET else checked.address)
    secret = None if checked.secret is UNSET else decode_field(ContactMethodCreate, "secret", checked.secret)
    if channel == "webhook" and secret is None:
        secret = secrets.token_urlsafe(32)
    elif channel != "webhook" and secret is not None:
        raise ValidationError("only a webhook takes a secret", field="secret")
    with ctx.write() as now:
        get_user_row(ctx, user_id)
        cid = new_id("cm", now)
        ctx.db.insert(
            "contact_methods",
            {
                "id": cid,
                "org_id": ctx.org_id,
                "user_id": user_id,
                "channel": channel,
                "address": address,
                "secret": secret,
                "created_at": to_iso(now),
                "address_set_via": ctx.via,
            },
        )
        row = _row(ctx, user_id, cid)
        return contact_wire(row, secret=secret)


def _row(ctx: Ctx, user_id: str, contact_id: str) -> sqlite3.Row:
    """A contact method of an active user of this org (a removed user's methods are not found)."""
    get_user_row(ctx, user_id)
    row = ctx.db.one(
        "SELECT * FROM contact_methods WHERE id = ? AND user_id = ? AND org_id = ?",
        (contact_id, user_id, ctx.org_id),
    )
    if row is None:
        raise NotFound("contact method", contact_id)
    return row


def list_contact_methods(ctx: Ctx, user_id: str) -> list[dict[str, Any]]:
    _may_manage(ctx, user_id)
    get_user_row(ctx, user_id)
    rows = ctx.db.all(
        "SELECT * FROM contact_methods WHERE user_id = ? AND org_id = ? ORDER BY created_at, rowid",
        (user_id, ctx.org_id),
    )
    return [contact_wire(r) for r in rows]


def get_contact_method(ctx: Ctx, user_id: str, contact_id: str) -> dict[str, Any]:
    _may_manage(ctx, user_id)
    return contact_wire(_row(ctx, user_id, contact_id))


def update_contact_method(ctx: Ctx, user_id: str, contact_id: str, body: Any) -> dict[str, Any]:
    """Change the address (or a webhook's secret). The channel is fixed: make a new method instead.

    Raises as :func:`add_contact_method`; a command method is 403 ``operator_only`` whatever the body.
    """
    _may_manage(ctx, user_id)
    checked = decode(ContactMethodUpdate, body, later={"address", "secret"})
    row = _row(ctx, user_id, contact_id)
    _operator_only(ctx, row["channel"], "change")
    changes: dict[str, Any] = {}
    if checked.address is not UNSET:  # checked before the write transaction: a webhook's host may be resolved
        changes["address"] = _address(ctx, row["channel"], checked.address)
        changes["address_set_via"] = ctx.via
    if checked.secret is not UNSET:
        if row["channel"] != "webhook":
            raise ValidationError("only a webhook takes a secret", field="secret")
        changes["secret"] = decode_field(ContactMethodUpdate, "secret", checked.secret)
    with ctx.write():
        _row(ctx, user_id, contact_id)  # still there (the channel never changes)
        ctx.db.update("contact_methods", "id", contact_id, changes)
        return contact_wire(_row(ctx, user_id, contact_id))


def delete_contact_method(ctx: Ctx, user_id: str, contact_id: str) -> None:
    """Remove a method; 403 ``operator_only`` for a command method unless the operator removes it."""
    _may_manage(ctx, user_id)
    with ctx.write():
        row = _row(ctx, user_id, contact_id)
        _operator_only(ctx, row["channel"], "remove")
        ctx.db.execute("DELETE FROM contact_methods WHERE id = ?", (contact_id,))
