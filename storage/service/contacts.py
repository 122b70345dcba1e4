"""Contact methods: how a user is paged (local extension; never sent to the remote service).

Channels: ``log`` (the timeline only; what a user with no contact method gets), ``webhook`` (an HTTP(S)
URL receiving a signed JSON page; see :mod:`storage.delivery`) and ``command`` (a program run with the
page as JSON on stdin). A webhook's HMAC secret is generated when not given and shown only once, in the
answer to its creation.
"""

from __future__ import annotations

import secrets
import shlex
import sqlite3
from typing import Any
from urllib.parse import urlparse

from engine.errors import NotFound, ValidationError
from engine.ids import new_id
from engine.timefmt import to_iso
from storage.service import Ctx
from storage.service.orgs import get_user_row
from storage.service.validate import enum, only_fields, string

CHANNELS: tuple[str, ...] = ("log", "webhook", "command")


def contact_wire(row: sqlite3.Row, *, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "userId": row["user_id"],
        "channel": row["channel"],
        "address": row["address"],
        "hasSecret": bool(row["secret"]),
        "createdAt": row["created_at"],
    }
    if secret is not None:
        out["secret"] = secret
    return out


def _address(channel: str, value: Any) -> str | None:
    if channel == "log":
        if value is not None:
            raise ValidationError("a log contact method takes no address", field="address")
        return None
    text = string(value, "address", min_len=1, max_len=2048)
    assert text is not None
    if channel == "webhook":
        url = urlparse(text)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValidationError("a webhook address must be an http(s) URL", field="address")
    else:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise ValidationError(f"command cannot be parsed: {exc}", field="address") from None
        if not argv:
            raise ValidationError("command must not be empty", field="address")
    return text


def add_contact_method(ctx: Ctx, user_id: str, body: Any) -> dict[str, Any]:
    body = only_fields(body, {"channel", "address", "secret"})
    channel = enum(body.get("channel"), "channel", CHANNELS)
    address = _address(channel, body.get("address"))
    secret = string(body.get("secret"), "secret", min_len=16, max_len=256, nullable=True)
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
    get_user_row(ctx, user_id)
    rows = ctx.db.all(
        "SELECT * FROM contact_methods WHERE user_id = ? AND org_id = ? ORDER BY created_at, rowid",
        (user_id, ctx.org_id),
    )
    return [contact_wire(r) for r in rows]


def get_contact_method(ctx: Ctx, user_id: str, contact_id: str) -> dict[str, Any]:
    return contact_wire(_row(ctx, user_id, contact_id))


def update_contact_method(ctx: Ctx, user_id: str, contact_id: str, body: Any) -> dict[str, Any]:
    """Change the address (or a webhook's secret). The channel is fixed: make a new method instead."""
    body = only_fields(body, {"address", "secret"})
    with ctx.write():
        row = _row(ctx, user_id, contact_id)
        changes: dict[str, Any] = {}
        if "address" in body:
            changes["address"] = _address(row["channel"], body["address"])
        if "secret" in body:
            if row["channel"] != "webhook":
                raise ValidationError("only a webhook takes a secret", field="secret")
            changes["secret"] = string(body["secret"], "secret", min_len=16, max_len=256)
        ctx.db.update("contact_methods", "id", contact_id, changes)
        return contact_wire(_row(ctx, user_id, contact_id))


def delete_contact_method(ctx: Ctx, user_id: str, contact_id: str) -> None:
    with ctx.write():
        _row(ctx, user_id, contact_id)
        ctx.db.execute("DELETE FROM contact_methods WHERE id = ?", (contact_id,))
