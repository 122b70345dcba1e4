"""Shift reminders in the engine: one timer per person (kind :data:`KIND`, subject the person's id) armed
at their next reminder instant.

A person's shifts are the owners of every schedule of their organisation (:func:`engine.rotation.shifts`,
overrides applied, the same "who is on call" rules as paging), merged per schedule
(:func:`engine.notification_rules.merge_shifts`). :func:`rearm` recomputes the next reminder and moves (or
removes) the timer; the use cases call it when the person's settings change and when any schedule, rotation
layer or override of the organisation changes. :func:`fire` (the handler) recomputes the shifts at the
timer's instant and sends only the reminders still due exactly then, so a reminder never goes out for a
shift that no longer exists, then returns the next instant. Each reminder is recorded once per (person,
schedule, kind, shift start) in ``shift_reminders_sent`` (UNIQUE), which is what ``oncall users reminders``
and ``GET /v1/users/{userId}/shift-reminders`` show.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from engine import ids, rotation
from engine import notification_rules as rules
from engine.errors import NotFound
from engine.model import Membership
from engine.runtime import notices
from engine.timefmt import from_epoch_ms, to_epoch_ms, to_iso
from storage.db import Database
from storage.queries import reminders as queries
from storage.queries import timers
from storage.queries.schedules import load_schedule_model
from storage.queries.timers import Timer

KIND = "shift_reminder"
log = logging.getLogger("oncall.engine")


def settings_of(db: Database, user_id: str) -> rules.ReminderSettings:
    row = queries.settings(db, user_id)
    if row is None:
        return rules.ReminderSettings()
    return rules.ReminderSettings(row["before_minutes"], bool(row["at_start"]), bool(row["at_end"]))


def own_shifts(
    db: Database, org_id: str, user_id: str, start: datetime, end: datetime
) -> list[rules.OwnShift]:
    """The person's shifts over ``[start, end)`` on every schedule of the organisation (a shift crossing an
    edge is cut there)."""
    members = Membership(queries.member_ids(db, org_id))
    out: list[rules.OwnShift] = []
    for schedule_id in queries.schedule_ids(db, org_id):
        try:
            sched = load_schedule_model(db, schedule_id)
        except NotFound:
            continue
        owners = rotation.shifts(sched, start, end, members).owners
        out += rules.merge_shifts(schedule_id, ((s.start, s.end) for s in owners if s.user_id == user_id))
    return out


def _span(settings: rules.ReminderSettings, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The span to compute shifts over so that reminders in ``[start, end)`` are all found and none is
    invented at a cut edge: a day before (a shift's real start), the reminder lead after."""
    lead = timedelta(minutes=settings.before_minutes or 0)
    return start - timedelta(days=1), end + lead + timedelta(days=1)


def next_reminder(
    db: Database, org_id: str, user_id: str, after: datetime, settings: rules.ReminderSettings | None = None
) -> rules.Reminder | None:
    """The person's first reminder strictly after ``after`` (within :data:`REMINDER_HORIZON`), or None."""
    settings = settings or settings_of(db, user_id)
    if not settings.any:
        return None
    end = after + rules.REMINDER_HORIZON
    lo, hi = _span(settings, after, end)
    return rules.next_reminder_after(own_shifts(db, org_id, user_id, lo, hi), settings, after, end)


def rearm(db: Database, org_id: str, user_id: str, now: datetime) -> rules.Reminder | None:
    """Arm the person's timer at their next reminder after ``now`` (or remove it); returns that reminder.

    When nothing is due within the horizon but the person wants reminders, the timer is armed at the
    horizon's end to look again then."""
    settings = settings_of(db, user_id)
    nxt = next_reminder(db, org_id, user_id, now, settings)
    if nxt is None and not settings.any:
        timers.disarm(db, KIND, user_id)
        return None
    due = nxt.at if nxt is not None else now + rules.REMINDER_HORIZON
    timers.arm(db, org_id=org_id, kind=KIND, subject_id=user_id, due_at_ms=to_epoch_ms(due))
    return nxt


def rearm_org(db: Database, org_id: str, now: datetime) -> None:
    """Re-arm every person of the organisation who wants reminders (a schedule of theirs changed)."""
    for user_id in queries.people_with_reminders(db, org_id):
        rearm(db, org_id, user_id, now)


def notice_key(user_id: str, reminder: rules.Reminder) -> str:
    """A reminder's notice key: one per person, schedule, kind and shift start (the contact method's tag
    is added per row)."""
    return f"reminder:{user_id}:{reminder.shift.schedule_id}:{reminder.kind}:{to_iso(reminder.shift.start)}"


def send(db: Database, now: datetime, org_id: str, user_id: str, reminder: rules.Reminder) -> int:
    """Queue ``reminder`` to every contact method of the person (:mod:`engine.runtime.notices`); returns
    how many rows were new. The payload (webhook JSON, command stdin) is ``{"type": "shift_reminder",
    "idempotencyKey", "userId", "channel", "kind", "schedule": {"id", "name", "timezone"}, "shiftStart",
    "shiftEnd", "remindAt", "title", "text"}`` (ISO 8601 instants)."""
    schedule_id = reminder.shift.schedule_id
    try:
        sched = load_schedule_model(db, schedule_id)
        name, zone = sched.name, sched.timezone
    except NotFound:  # cannot happen inside the firing transaction that just read it; say what we know
        name, zone = schedule_id, "UTC"
    payload = {
        "kind": reminder.kind,
        "schedule": {"id": schedule_id, "name": name, "timezone": zone},
        "shiftStart": to_iso(reminder.shift.start),
        "shiftEnd": to_iso(reminder.shift.end),
        "remindAt": to_iso(reminder.at),
        "title": f"Shift reminder: {name}",
        "text": rules.reminder_text(reminder, name, zone),
    }
    return notices.enqueue(
        db, now, org_id=org_id, user_id=user_id, kind=KIND, key=notice_key(user_id, reminder), payload=payload
    )


def fire(db: Database, now: datetime, timer: Timer) -> int | None:
    """The timer handler: send the reminders still due at the timer's instant; returns the next one."""
    user_id = timer.subject_id
    settings = settings_of(db, user_id)
    if not settings.any or user_id not in queries.member_ids(db, timer.org_id):
        return None
    due = from_epoch_ms(timer.due_at_ms)
    lo, hi = _span(settings, due, due + rules.REMINDER_HORIZON)
    shifts = own_shifts(db, timer.org_id, user_id, lo, hi)
    for reminder in rules.reminders_at(shifts, settings, due):
        fresh = queries.record_sent(
            db,
            {
                "id": ids.new_id("srm", now),
                "org_id": timer.org_id,
                "user_id": user_id,
                "schedule_id": reminder.shift.schedule_id,
                "kind": reminder.kind,
                "shift_start": to_iso(reminder.shift.start),
                "shift_end": to_iso(reminder.shift.end),
                "remind_at": to_iso(reminder.at),
                "sent_at": to_iso(now),
            },
        )
        if fresh:
            log.info("shift reminder (%s) for %s on %s", reminder.kind, user_id, reminder.shift.schedule_id)
        # Queued whether or not the record is new: the notice's key makes a second write queue nothing.
        send(db, now, timer.org_id, user_id, reminder)
    end = due + rules.REMINDER_HORIZON
    nxt = rules.next_reminder_after(shifts, settings, due, end)
    return to_epoch_ms(nxt.at if nxt is not None else end)
