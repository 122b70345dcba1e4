"""Calendar feeds: a schedule's shifts (or one person's) as iCalendar, printed by ``oncall schedules ical``
and served at a secret, revocable URL, ``GET /v1/oncall/schedules/{scheduleId}/ical?token=…``, that
calendar apps subscribe to. The token is the key (no API key): it is shown once when the feed is made,
stored only as a SHA-256 digest, and a revoked or wrong token is 404 ``not_found``, as is a token of
another schedule. The events are :mod:`engine.calendar`'s, from :func:`engine.service.schedules.coverage`.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import timedelta
from typing import Any

from engine import calendar
from engine.clock import Clock
from engine.errors import NotFound, ValidationError
from engine.ids import new_id
from engine.service import Ctx, orgs, schedules
from engine.timefmt import parse_iso, to_iso
from storage.db import Database
from storage.queries import calendar_feeds as queries

TOKEN_PREFIX = "ocf_"
DEFAULT_DAYS = 90
MAX_DAYS = 730
PAST = timedelta(days=7)
"""A feed shows the shifts of the last week too (a calendar keeps what it was shown)."""
HISTORY = timedelta(days=730)
"""How far back shifts are computed so that a shift that began before the feed's window keeps its true
start (and so its UID) at every fetch; a shift older than this is shown from this point."""


def feed_path(schedule_id: str, token: str) -> str:
    return f"/v1/oncall/schedules/{schedule_id}/ical?token={token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "scheduleId": row["schedule_id"],
        "userId": row["user_id"],
        "createdBy": row["created_by"],
        "createdAt": row["created_at"],
        "revokedAt": row["revoked_at"],
    }


def _days(days: int | None) -> int:
    if days is None:
        return DEFAULT_DAYS
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days must be between 1 and {MAX_DAYS}", field="days")
    return days


def feed_events(
    ctx: Ctx, schedule_id: str, *, user_id: str | None = None, days: int | None = None
) -> tuple[str, list[calendar.FeedEvent]]:
    """The feed's title and events: the schedule's on-call shifts, or ``user_id``'s only, that end after
    a week ago and start within the next ``days`` (default 90, at most 730): every layer's rotation
    shifts with overrides applied, each override a piece of its own. 404 ``not_found`` for a schedule
    outside the organisation, 422 for ``days`` out of range."""
    span = _days(days)
    now = ctx.now()
    with ctx.db.read():
        sched = schedules.get_schedule(ctx, schedule_id)
        names = orgs.user_names(ctx)
        starts = [parse_iso(la["effectiveFrom"]) for la in sched["layers"]]
        starts += [parse_iso(o["start"]) for o in sched["overrides"]]
        shown_from, until = now - PAST, now + timedelta(days=span)
        origin = max(min([*starts, shown_from]), now - HISTORY)
        coverage = schedules.coverage(ctx, schedule_id, origin, until)
    title = sched["name"] if user_id is None else f"{names.get(user_id, user_id)}: {sched['name']}"
    items = calendar.events(schedule_id, sched["name"], coverage, names, user_id=user_id, start=shown_from)
    return f"On call: {title}", items


def event_wire(event: calendar.FeedEvent) -> dict[str, Any]:
    return {
        "uid": event.uid,
        "userId": event.user_id,
        "start": to_iso(event.start),
        "end": to_iso(event.end),
        "summary": event.summary,
        "description": event.description,
    }


def ical(ctx: Ctx, schedule_id: str, *, user_id: str | None = None, days: int | None = None) -> bytes:
    """:func:`feed_events` as an iCalendar document (``text/calendar``, UTF-8, RFC 5545)."""
    title, items = feed_events(ctx, schedule_id, user_id=user_id, days=days)
    return calendar.feed(title, items, ctx.now())


def resolve_names(ctx: Ctx, schedule: str, user: str | None) -> tuple[str, str | None]:
    """A schedule and a person as people type them (id or name; id or email) as ids."""
    sid = schedules.find_schedule(ctx, schedule)["id"]
    uid = orgs.find_user(ctx, user)["id"] if user is not None else None
    return sid, uid


def create_feed(ctx: Ctx, schedule: str, *, user: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new secret feed URL of the schedule (id or name), or of one person's shifts on it (id or email).
    Returns the token (shown once: only its hash is kept) and the feed in wire form with its ``path``."""
    with ctx.write() as now:
        sid, uid = resolve_names(ctx, schedule, user)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        fid = new_id("feed", now)
        queries.insert_feed(
            ctx.db,
            feed_id=fid,
            org_id=ctx.org_id,
            schedule_id=sid,
            user_id=uid,
            token_hash=_hash(token),
            created_by=ctx.actor_id,
            created_at=to_iso(now),
        )
        row = queries.feed_row(ctx.db, fid)
        assert row is not None
        return token, {**feed_wire(row), "path": feed_path(sid, token)}


def list_feeds(ctx: Ctx, schedule: str) -> list[dict[str, Any]]:
    """The schedule's feeds (no tokens: they are not kept), revoked ones included."""
    sid = schedules.find_schedule(ctx, schedule)["id"]
    return [feed_wire(r) for r in queries.feed_rows(ctx.db, ctx.org_id, sid)]


def revoke_feeds(ctx: Ctx, schedule: str, *, user: str | None = None) -> int:
    """Revoke the schedule's live feeds of ``user`` (without one: its whole-schedule feeds); their URLs
    answer 404 from now on. Returns how many were revoked (0 is not an error)."""
    with ctx.write() as now:
        sid, uid = resolve_names(ctx, schedule, user)
        return queries.revoke_feeds(ctx.db, ctx.org_id, sid, uid, to_iso(now))


def feed_document(
    db: Database, clock: Clock, schedule_id: str, token: str | None, *, days: int | None = None
) -> bytes:
    """What the feed URL answers: :func:`ical` for the feed the token opens, read as nobody in its
    organisation. 404 ``not_found`` for a missing, wrong or revoked token, or one of another schedule
    (one answer for all, so the URL leaks nothing)."""
    row = queries.active_feed_by_hash(db, _hash(token)) if token else None
    if row is None or row["schedule_id"] != schedule_id:
        raise NotFound("calendar feed")
    ctx = Ctx(db=db, org_id=row["org_id"], clock=clock, is_admin=False)
    return ical(ctx, schedule_id, user_id=row["user_id"], days=days)
