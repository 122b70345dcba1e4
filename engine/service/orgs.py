"""Organisations, users, team invitations and API keys."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from msgspec import UNSET, Struct

from engine.clock import Clock, WallClock
from engine.errors import DomainError, NameConflict, NotFound, Unauthorized, ValidationError
from engine.ids import new_id
from engine.model import Membership
from engine.runtime.operator_config import OperatorConfig
from engine.service import Ctx, Via, responses
from engine.service.models import Invite, RoleChange, UserCreate
from engine.service.responses import wire
from engine.service.validate import decode, decode_field, name_string
from engine.timefmt import parse_iso, to_iso
from storage.db import Database
from storage.queries import orgs as org_queries
from storage.sync import change_queue as sync_outbox

KEY_PREFIX = "scl_live_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- wire forms ----------------------------------------------------------------------------------


def user_wire(row: sqlite3.Row) -> dict[str, Any]:
    """A user (a team member) in wire form (:class:`~engine.service.responses.Member`)."""
    answer = responses.Member(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        image_url=row["image_url"],
        role=row["role"],
        joined_at=row["created_at"],
    )
    return wire(answer)


def display_name(row: sqlite3.Row | dict[str, Any] | None) -> str:
    if row is None:
        return "?"
    if isinstance(row, dict):  # wire form
        first, last = row.get("firstName"), row.get("lastName")
    else:  # a database row (either backend's)
        first, last = row["first_name"], row["last_name"]
    email = row["email"]
    name = " ".join(p for p in (first, last) if p)
    return name or email


def org_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An organisation in wire form (:class:`~engine.service.responses.Organisation`)."""
    answer = responses.Organisation(id=row["id"], name=row["name"], created_at=row["created_at"])
    return wire(answer)


def key_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An API key as listed (:class:`~engine.service.responses.ApiKey`), never the key itself."""
    answer = responses.ApiKey(
        id=row["id"],
        name=row["name"],
        user_id=row["user_id"],
        masked=mask_key_suffix(row["last4"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
    return wire(answer)


def mask_key_suffix(last4: str) -> str:
    return f"{KEY_PREFIX}…{last4}"


def mask_key(key: str) -> str:
    """``scl_live_…abcd``: the only form in which a key is ever shown after creation."""
    return mask_key_suffix(key[-4:]) if len(key) >= 4 else "…"


# -- organisations -------------------------------------------------------------------------------


class InitResult(Struct, frozen=True):
    org: dict[str, Any]
    admin: dict[str, Any]
    api_key: str  # shown once


def create_org(
    db: Database,
    name: str,
    admin_email: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    clock: Clock | None = None,
) -> InitResult:
    """Create an organisation with its first admin and a first API key (returned once, stored hashed)."""
    clock = clock or WallClock()
    name = name_string(name, "org")
    email = _email(admin_email, "admin email")
    from storage.db_clock import write_at

    with write_at(db, clock) as now:
        if org_queries.org_name_taken(db, name):
            raise NameConflict(f"an organisation named {name!r} already exists")
        org_id = new_id("org", now)
        org_queries.insert_org(db, org_id, name, to_iso(now))
        ctx = Ctx(db=db, org_id=org_id, clock=clock)
        admin = add_user(ctx, email=email, first_name=first_name, last_name=last_name, role="org:admin")
        key, _ = create_key(ctx.as_user(admin["id"]), name="initial key")
        org = org_queries.org_row(db, org_id)
        assert org is not None
    return InitResult(org=org_wire(org), admin=admin, api_key=key)


def list_orgs(db: Database) -> list[dict[str, Any]]:
    return [org_wire(r) for r in org_queries.org_rows(db)]


def find_org(db: Database, ident: str | None) -> str:
    """Resolve an org by id or name; with no ident (None), the only org (an error if there are several).
    An empty ident is an id like any other: 404, never "the only org"."""
    if ident is not None:
        found = org_queries.org_id_by_id_or_name(db, ident)
        if found is None:
            raise NotFound("organisation", ident)
        return found
    rows = org_queries.org_rows(db)
    if not rows:
        raise DomainError(
            "no_organisation", "no organisation yet: run `oncall init --org NAME --admin-email EMAIL`"
        )
    if len(rows) > 1:
        names = ", ".join(r["name"] for r in rows)
        raise DomainError("ambiguous_org", f"several organisations in this database ({names}): pass --org")
    return str(rows[0]["id"])


# -- users ---------------------------------------------------------------------------------------


def _email(text: str, field: str = "email") -> str:
    """``text`` (already a 1..320 character string) as an address, lower-cased; 422 on ``field`` when
    it is not one."""
    if not _EMAIL.match(text):
        raise ValidationError(f"{field} must be a valid email address", field=field)
    return text.strip().lower()


def add_user(
    ctx: Ctx,
    *,
    email: Any,
    first_name: Any = None,
    last_name: Any = None,
    role: Any = "org:member",
    image_url: Any = None,
    origin: str = "local",
    remote_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Add a person to the organisation (the values as :func:`create_user` takes them, by keyword)."""
    body = {
        "email": email,
        "firstName": first_name,
        "lastName": last_name,
        "role": role,
        "imageUrl": image_url,
    }
    return create_user(ctx, body, origin=origin, remote_id=remote_id, user_id=user_id)


class Person(Struct, frozen=True):
    """A person's fields as stored (column names), checked: ``email`` lower-cased; the others None when
    absent or null."""

    email: str
    first_name: str | None
    last_name: str | None
    role: str | None
    image_url: str | None


def check_person(body: Any) -> Person:
    """A :class:`~engine.service.models.UserCreate` body (``email``, ``firstName``, ``lastName``,
    ``role``, ``imageUrl``) checked by the one set of rules every way in uses (a local create, a pulled
    person); raises 422 ``validation_error`` naming the field."""
    checked = decode(UserCreate, body)
    return Person(
        email=_email(checked.email),
        first_name=None if checked.first_name is UNSET else checked.first_name,
        last_name=None if checked.last_name is UNSET else checked.last_name,
        role=None if checked.role is UNSET else checked.role,
        image_url=None if checked.image_url is UNSET else checked.image_url,
    )


def create_user(
    ctx: Ctx,
    body: Any,
    *,
    origin: str = "local",
    remote_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Add a person from a :class:`~engine.service.models.UserCreate` body; their user in wire form.
    422 ``validation_error`` for a bad body, 409 ``name_conflict`` when an active user has the email."""
    person = check_person(body)
    email, first_name, last_name, image_url = (
        person.email,
        person.first_name,
        person.last_name,
        person.image_url,
    )
    role = person.role or "org:member"
    with ctx.write() as now:
        if org_queries.active_email_taken(ctx.db, ctx.org_id, email):
            raise NameConflict(f"a user with email {email} already exists in this organisation")
        uid = user_id or new_id("user", now)
        org_queries.insert_user(
            ctx.db,
            {
                "id": uid,
                "org_id": ctx.org_id,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "role": role,
                "image_url": image_url,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        return get_user(ctx, uid)


def get_user_row(ctx: Ctx, user_id: str, *, include_removed: bool = False) -> sqlite3.Row:
    row = org_queries.org_user_row(ctx.db, ctx.org_id, user_id, include_removed=include_removed)
    if row is None:
        raise NotFound("user", user_id)
    return row


def get_user(ctx: Ctx, user_id: str) -> dict[str, Any]:
    return user_wire(get_user_row(ctx, user_id))


def find_user(ctx: Ctx, ident: str) -> dict[str, Any]:
    """A user by id or email (what a person types on the command line)."""
    row = org_queries.active_user_by_id_or_email(ctx.db, ctx.org_id, ident, ident.strip().lower())
    if row is None:
        raise NotFound("user", ident)
    return user_wire(row)


def list_users(ctx: Ctx) -> list[dict[str, Any]]:
    rows = org_queries.active_users_in_order(ctx.db, ctx.org_id)
    return [user_wire(r) for r in rows]


def people(ctx: Ctx) -> list[dict[str, Any]]:
    """Everyone who was ever in the organisation (removed people included), oldest first, then by
    email: ``{"id", "email", "firstName", "lastName"}`` each (names may be None)."""
    return [
        {"id": r["id"], "email": r["email"], "firstName": r["first_name"], "lastName": r["last_name"]}
        for r in org_queries.people(ctx.db, ctx.org_id)
    ]


def org_name(ctx: Ctx) -> str:
    """The acting organisation's name (its id if it has none on file)."""
    return org_queries.org_name(ctx.db, ctx.org_id) or ctx.org_id


def has_organisation(db: Database) -> bool:
    """Whether the database holds at least one organisation (what ``oncall serve`` needs to start)."""
    return org_queries.any_org(db)


def user_names(ctx: Ctx) -> dict[str, str]:
    """Display names of everyone who was ever in the organisation, removed people included (history
    still shows them)."""
    rows = org_queries.user_rows(ctx.db, ctx.org_id)
    return {r["id"]: display_name(r) for r in rows}


def first_admin_id(db: Database, org_id: str) -> str | None:
    """The oldest current admin: who the command line acts as when nobody else is named."""
    return org_queries.first_admin_id(db, org_id)


def active_user_ids(ctx: Ctx) -> set[str]:
    return org_queries.active_user_ids(ctx.db, ctx.org_id)


def membership(ctx: Ctx) -> Membership:
    """Who belongs to the organisation when: its current members, and each removed user with the
    instant of removal. What every "who is on call / who is paged" answer is filtered by (rule 8 of
    docs/TIME_RULES.md), so a view at an instant before a removal still shows that person."""
    rows = org_queries.removal_rows(ctx.db, ctx.org_id)
    return Membership(
        members=frozenset(r["id"] for r in rows if r["removed_at"] is None),
        removed_at={r["id"]: parse_iso(r["removed_at"]) for r in rows if r["removed_at"] is not None},
    )


def remove_user(ctx: Ctx, user_id: str) -> None:
    """Remove a member. The row stays (marked removed) so history keeps its names.

    From this instant nothing names them as on call, owner or paging target: their rotation turns become
    gaps and their overrides stop applying (rule 8 of docs/TIME_RULES.md); a running escalation pages the
    rest of a layer, or records ``nobody_on_call`` with ``removedUserIds``.
    """
    with ctx.write() as at:
        row = get_user_row(ctx, user_id)
        sync_outbox.refuse_local_edit(ctx, "users", user_id, "person")
        if ctx.actor_user_id == user_id:
            raise DomainError("cannot_remove_self", "you cannot remove yourself from the organisation")
        if row["role"] == "org:admin":
            admins = org_queries.active_admin_count(ctx.db, ctx.org_id)
            if admins <= 1:
                raise DomainError("last_admin", "an organisation must keep at least one admin")
        now = to_iso(at)
        org_queries.update_user(ctx.db, user_id, {"removed_at": now, "updated_at": now})
        org_queries.revoke_user_keys(ctx.db, user_id, now)


def update_user_names(ctx: Ctx, user_id: str, *, first_name: Any, last_name: Any) -> dict[str, Any]:
    """Set a person's first and last names (each checked as :class:`~engine.service.models.UserCreate`
    declares them; None clears one). Their user in wire form; 404 ``not_found`` for no such member."""
    first = decode_field(UserCreate, "first_name", first_name)
    last = decode_field(UserCreate, "last_name", last_name)
    with ctx.write() as now:
        get_user_row(ctx, user_id)
        sync_outbox.refuse_local_edit(ctx, "users", user_id, "person")
        org_queries.update_user(
            ctx.db, user_id, {"first_name": first, "last_name": last, "updated_at": to_iso(now)}
        )
        return get_user(ctx, user_id)


def change_role(ctx: Ctx, user_id: str, role: Any) -> dict[str, Any]:
    """Give the user ``role`` (one of ``ROLES``; 422 otherwise, before the user's 404)."""
    role = decode_field(RoleChange, "role", role)
    with ctx.write() as now:
        get_user_row(ctx, user_id)
        sync_outbox.refuse_local_edit(ctx, "users", user_id, "person")
        if ctx.actor_user_id == user_id:
            raise DomainError("cannot_change_own_role", "you cannot change your own role")
        org_queries.update_user(ctx.db, user_id, {"role": role, "updated_at": to_iso(now)})
        return get_user(ctx, user_id)


def invite(ctx: Ctx, body: Any) -> dict[str, Any]:
    checked = decode(Invite, body)
    email = _email(checked.email_address, "emailAddress")
    role = "org:member" if checked.role is UNSET else checked.role
    with ctx.write() as now:
        inv_id = new_id("orginv", now)
        org_queries.insert_invitation(
            ctx.db,
            {
                "id": inv_id,
                "org_id": ctx.org_id,
                "email_address": email,
                "role": role,
                "status": "pending",
                "created_at": to_iso(now),
            },
        )
        row = org_queries.invitation_row(ctx.db, inv_id)
        assert row is not None
        return invitation_wire(row)


def invitation_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An invitation in wire form (:class:`~engine.service.responses.Invitation`)."""
    answer = responses.Invitation(
        id=row["id"],
        email_address=row["email_address"],
        role=row["role"],
        status=row["status"],
        created_at=row["created_at"],
    )
    return wire(answer)


def list_invitations(ctx: Ctx) -> list[dict[str, Any]]:
    rows = org_queries.pending_invitation_rows(ctx.db, ctx.org_id)
    return [invitation_wire(r) for r in rows]


def revoke_invitation(ctx: Ctx, invitation_id: str) -> None:
    with ctx.write():
        if not org_queries.revoke_pending_invitation(ctx.db, ctx.org_id, invitation_id):
            raise NotFound("invitation", invitation_id)


# -- API keys ------------------------------------------------------------------------------------


def _hash_key(key: str) -> str:
    import hashlib  # loaded by the key commands and the API only, not by every command's start-up

    return hashlib.sha256(key.encode()).hexdigest()


def create_key(ctx: Ctx, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new key for the acting user. The plain key is returned once; only its hash is stored.

    ``name`` is optional; given, it is a name like any other (:func:`name_string`: not empty, not blank,
    no control characters, at most 255 characters), else 422 ``validation_error`` on ``name``."""
    if name is not None:
        name = name_string(name, "name", max_len=255)
    import secrets

    key = KEY_PREFIX + secrets.token_urlsafe(24)[:32]
    with ctx.write() as now:
        key_id = new_id("key", now)
        org_queries.insert_api_key(
            ctx.db,
            {
                "id": key_id,
                "org_id": ctx.org_id,
                "user_id": ctx.actor_user_id,
                "name": name,
                "key_hash": _hash_key(key),
                "last4": key[-4:],
                "created_at": to_iso(now),
                "revoked_at": None,
            },
        )
        row = org_queries.api_key_row(ctx.db, key_id)
        assert row is not None
    return key, key_wire(row)


def list_keys(ctx: Ctx) -> list[dict[str, Any]]:
    rows = org_queries.api_key_rows(ctx.db, ctx.org_id)
    return [key_wire(r) for r in rows]


def revoke_key(ctx: Ctx, key_id: str) -> dict[str, Any]:
    with ctx.write() as now:
        row = org_queries.api_key_row(ctx.db, key_id, ctx.org_id)
        if row is None:
            raise NotFound("API key", key_id)
        if row["revoked_at"] is None:
            org_queries.revoke_api_key(ctx.db, key_id, to_iso(now))
        row = org_queries.api_key_row(ctx.db, key_id)
        assert row is not None
        return key_wire(row)


def authenticate(
    db: Database,
    key: str,
    clock: Clock | None = None,
    *,
    via: Via = "api_key",
    config: OperatorConfig | None = None,
) -> Ctx:
    """The Ctx for a presented API key, or 401 ``invalid_api_key`` (unknown or revoked).

    Lookup is by the SHA-256 of the key (never the key itself), then compared in constant time. ``via``
    and ``config`` go into the Ctx (the HTTP API passes its configuration: building a default one reads
    the environment and the user's config directory, a third of a create's CPU in bench/api.py).
    """
    import hmac

    digest = _hash_key(key)
    row = org_queries.api_key_by_hash(db, digest)
    if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["revoked_at"] is not None:
        raise Unauthorized("invalid_api_key", "the API key is unknown or has been revoked")
    if row["user_removed"] is not None:
        raise Unauthorized("invalid_api_key", "the API key's user has been removed")
    return Ctx(
        db=db,
        org_id=row["org_id"],
        actor_id=row["user_id"] or row["id"],
        actor_user_id=row["user_id"],
        is_admin=(row["user_role"] == "org:admin") if row["user_id"] else True,
        clock=clock or WallClock(),
        via=via,
        config=config or OperatorConfig(),
    )
