"""Personal notification rules and shift reminders: the use cases (local extension, docs/PAGES.md).

Who may: the same rule as contact methods (:mod:`engine.service.contacts`): the operator and admin keys
act on anyone, a member key on its own user only (401 ``not_authorized``). A removed or unknown person is
404. Wire forms:

* a rule step: ``{"id", "userId", "urgency": "high"|"low", "step": n (0-based firing order),
  "delayMinutes", "contactMethodId", "channel", "createdAt"}``;
* the rules: ``{"high": [step, …], "low": [step, …]}``, each in firing order (delay, then order added);
* reminders: ``{"userId", "beforeMinutes": int|null, "atStart", "atEnd", "nextReminder": {"at", "kind",
  "scheduleId", "shiftStart", "shiftEnd"}|null, "sent": [{"at", "kind", "scheduleId", "shiftStart",
  "shiftEnd"}, …] (latest first)}``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from msgspec import UNSET

from engine import notification_rules as rules
from engine.errors import DomainError, NotFound, ValidationError
from engine.ids import new_id
from engine.runtime import shift_reminders
from engine.service import Ctx, responses
from engine.service.contacts import _may_manage
from engine.service.models import NotificationRuleCreate, RuleMove, ShiftReminders
from engine.service.orgs import get_user_row
from engine.service.validate import decode
from engine.timefmt import to_iso
from storage.queries import notification_rules as queries
from storage.queries import reminders as reminder_queries

URGENCIES = rules.URGENCIES


def _step(row: sqlite3.Row, step: int) -> responses.NotificationRuleStep:
    return responses.NotificationRuleStep(
        id=row["id"],
        user_id=row["user_id"],
        urgency=row["urgency"],
        step=step,
        delay_minutes=row["delay_minutes"],
        contact_method_id=row["contact_method_id"],
        channel=row["channel"],
        created_at=row["created_at"],
    )


def _rules_wire(ctx: Ctx, user_id: str) -> dict[str, list[dict[str, Any]]]:
    by_urgency: dict[str, list[responses.NotificationRuleStep]] = {"high": [], "low": []}
    for row in queries.all_steps(ctx.db, user_id):
        steps = by_urgency[row["urgency"]]
        steps.append(_step(row, len(steps)))
    answer: dict[str, list[dict[str, Any]]] = responses.wire(
        responses.NotificationRules(high=by_urgency["high"], low=by_urgency["low"])
    )
    return answer


def list_rules(ctx: Ctx, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """The person's rules, both urgencies. 401/404 as the module says."""
    _may_manage(ctx, user_id)
    get_user_row(ctx, user_id)
    return _rules_wire(ctx, user_id)


def _urgency(value: Any) -> str | None:
    if value is None:
        return None
    if value not in URGENCIES:
        raise ValidationError("urgency must be one of: high, low", field="urgency")
    return str(value)


def add_rule(ctx: Ctx, user_id: str, body: Any) -> dict[str, Any]:
    """Add a step; answers it in wire form (its ``step`` is its place in the firing order).

    Raises 401/404 as the module says, 422 ``validation_error`` for the body (a ``contactMethodId`` that is
    not one of the person's methods names that field), 400 ``too_many_rule_steps`` beyond
    :data:`engine.notification_rules.MOST_RULE_STEPS` per urgency.
    """
    _may_manage(ctx, user_id)
    checked = decode(NotificationRuleCreate, body)
    with ctx.write() as now:
        get_user_row(ctx, user_id)
        cm = queries.contact_method(ctx.db, checked.contact_method_id)
        if cm is None or cm["user_id"] != user_id:
            raise ValidationError(
                "contactMethodId must be one of this person's contact methods", field="contactMethodId"
            )
        if queries.count(ctx.db, user_id, checked.urgency) >= rules.MOST_RULE_STEPS:
            raise DomainError(
                "too_many_rule_steps",
                f"a person has at most {rules.MOST_RULE_STEPS} {checked.urgency}-urgency steps",
            )
        rule_id = new_id("nr", now)
        queries.insert_step(
            ctx.db,
            {
                "id": rule_id,
                "org_id": ctx.org_id,
                "user_id": user_id,
                "urgency": checked.urgency,
                "position": queries.next_position(ctx.db, user_id, checked.urgency),
                "delay_minutes": checked.delay_minutes,
                "contact_method_id": checked.contact_method_id,
                "created_at": to_iso(now),
            },
        )
        return next(s for s in _rules_wire(ctx, user_id)[checked.urgency] if s["id"] == rule_id)


def _rule_row(ctx: Ctx, user_id: str, rule_id: str) -> sqlite3.Row:
    get_user_row(ctx, user_id)
    row = queries.get_step(ctx.db, user_id, rule_id)
    if row is None or row["org_id"] != ctx.org_id:
        raise NotFound("notification rule", rule_id)
    return row


def remove_rule(ctx: Ctx, user_id: str, rule_id: str) -> None:
    """Remove one step (404 when the person has no such step). Pages already under way keep their
    snapshot of the steps."""
    _may_manage(ctx, user_id)
    with ctx.write():
        _rule_row(ctx, user_id, rule_id)
        queries.delete_step(ctx.db, rule_id)


def clear_rules(ctx: Ctx, user_id: str, urgency: str | None = None) -> int:
    """Remove every step of ``urgency`` (both when None); returns how many went. The person is then paged
    on every contact method at once again."""
    _may_manage(ctx, user_id)
    chosen = _urgency(urgency)
    with ctx.write():
        get_user_row(ctx, user_id)
        return queries.clear(ctx.db, user_id, chosen)


def move_rule(ctx: Ctx, user_id: str, rule_id: str, body: Any) -> dict[str, list[dict[str, Any]]]:
    """Move a step one place up or down its urgency's order: its contact method swaps slots with the
    neighbour's (the delays stay in place). 400 ``cannot_move`` at either end. Answers the rules."""
    _may_manage(ctx, user_id)
    checked = decode(RuleMove, body)
    with ctx.write():
        row = _rule_row(ctx, user_id, rule_id)
        order = queries.steps(ctx.db, user_id, row["urgency"])
        at = next(n for n, r in enumerate(order) if r["id"] == rule_id)
        other = at - 1 if checked.direction == "up" else at + 1
        if not 0 <= other < len(order):
            raise DomainError(
                "cannot_move", f"step {at} is already the {'first' if other < 0 else 'last'} one"
            )
        queries.swap_methods(ctx.db, order[at], order[other])
        return _rules_wire(ctx, user_id)


# -- shift reminders ------------------------------------------------------------------------------------


def _reminder(r: rules.Reminder | None) -> responses.ShiftReminder | None:
    if r is None:
        return None
    return responses.ShiftReminder(
        at=to_iso(r.at),
        kind=r.kind,
        schedule_id=r.shift.schedule_id,
        shift_start=to_iso(r.shift.start),
        shift_end=to_iso(r.shift.end),
    )


def _reminders_wire(ctx: Ctx, user_id: str, nxt: rules.Reminder | None) -> dict[str, Any]:
    s = shift_reminders.settings_of(ctx.db, user_id)
    answer: dict[str, Any] = responses.wire(
        responses.ShiftReminderSettings(
            user_id=user_id,
            before_minutes=s.before_minutes,
            at_start=s.at_start,
            at_end=s.at_end,
            next_reminder=_reminder(nxt),
            sent=[
                responses.ShiftReminder(
                    at=r["remind_at"],
                    kind=r["kind"],
                    schedule_id=r["schedule_id"],
                    shift_start=r["shift_start"],
                    shift_end=r["shift_end"],
                )
                for r in reminder_queries.sent(ctx.db, user_id)
            ],
        )
    )
    return answer


def get_reminders(ctx: Ctx, user_id: str) -> dict[str, Any]:
    """The person's reminder settings, their next reminder and the latest ones sent."""
    _may_manage(ctx, user_id)
    get_user_row(ctx, user_id)
    nxt = shift_reminders.next_reminder(ctx.db, ctx.org_id, user_id, ctx.now())
    return _reminders_wire(ctx, user_id, nxt)


def set_reminders(ctx: Ctx, user_id: str, body: Any) -> dict[str, Any]:
    """Change the person's reminder settings (fields left out keep their value; ``beforeMinutes: null``
    turns that reminder off) and re-arm their reminder timer. 401/404/422 as usual."""
    _may_manage(ctx, user_id)
    checked = decode(ShiftReminders, body)
    with ctx.write() as now:
        get_user_row(ctx, user_id)
        old = shift_reminders.settings_of(ctx.db, user_id)
        reminder_queries.save_settings(
            ctx.db,
            {
                "user_id": user_id,
                "org_id": ctx.org_id,
                "before_minutes": old.before_minutes
                if checked.before_minutes is UNSET
                else checked.before_minutes,
                "at_start": int(old.at_start if checked.at_start is UNSET else checked.at_start),
                "at_end": int(old.at_end if checked.at_end is UNSET else checked.at_end),
                "updated_at": to_iso(now),
            },
        )
        nxt = shift_reminders.rearm(ctx.db, ctx.org_id, user_id, now)
        return _reminders_wire(ctx, user_id, nxt)
