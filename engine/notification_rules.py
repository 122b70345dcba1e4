"""Personal notification rules and shift reminders: the pure arithmetic (no I/O, no clock reads).

**Notification rules.** A person orders their contact methods with delays, per urgency: e.g. ntfy at +0
min, a webhook at +2, email at +5, while the page is unacknowledged. ``critical`` and ``high`` incidents
use the person's **high**-urgency rules, ``medium`` and ``low`` ones the **low**-urgency rules. A person
without rules for the incident's urgency is paged on every contact method at once (the behaviour before
rules existed). Steps are ordered by delay, then by the order they were added; step ``n`` is that
position in the order, which is part of the page queue's idempotency key.

:func:`steps_due` answers "which steps are due at ``now``, given the rules, the page instant and the
steps already sent, and when is the next one": the engine writes the due steps to the page queue and arms
one timer at the next instant. A failed channel moves that timer to "now" (fall-through), so the next
step goes out at once rather than after its delay.

**Shift reminders** (PagerDuty's handoff notifications): a person may ask to be told ``before`` minutes
before a shift of theirs starts, when it starts, and when it ends. A *shift* is a maximal interval during
which the person owns one schedule (overrides applied: the same :func:`engine.rotation.shifts` owners that
paging uses); two adjacent pieces (a rotation turn running straight into an override of the same person)
are one shift. :func:`reminders` lists every reminder instant in a window; :func:`next_reminder_after`
the first after an instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from msgspec import Struct

Urgency = Literal["high", "low"]
URGENCIES: tuple[Urgency, ...] = ("high", "low")
HIGH_SEVERITIES = frozenset({"critical", "high"})
LONGEST_RULE_DELAY_MINUTES = 1440  # a day: a step later than that is not a notification rule any more
MOST_RULE_STEPS = 20  # per person and urgency


def urgency_of(severity: str | None) -> Urgency:
    """``high`` for ``critical``/``high`` severities, ``low`` for ``medium``/``low`` (and anything else)."""
    return "high" if severity in HIGH_SEVERITIES else "low"


class RuleStep(Struct, frozen=True):
    """Notify through ``contact_method_id`` ``delay_minutes`` after the person is paged."""

    contact_method_id: str
    delay_minutes: int


class StepsDue(Struct, frozen=True):
    """What :func:`steps_due` decided: the steps to send now (indexes into the ordered rules) and the
    instant the next one is due (None when every step has been sent)."""

    send: tuple[int, ...]
    next_at: datetime | None
    next_step: int  # the first step not sent after this decision (== len(rules) when all were)


def ordered(steps: Iterable[RuleStep]) -> tuple[RuleStep, ...]:
    """Steps in firing order: by delay, ties in the given (creation) order. Python's sort is stable."""
    return tuple(sorted(steps, key=lambda s: s.delay_minutes))


def step_at(paged_at: datetime, step: RuleStep) -> datetime:
    return paged_at + timedelta(minutes=step.delay_minutes)


def steps_due(
    rules: Sequence[RuleStep],
    paged_at: datetime,
    now: datetime,
    next_step: int,
    *,
    fall_through: bool = False,
) -> StepsDue:
    """The steps of ``rules`` (already :func:`ordered`) due at ``now`` for a page made at ``paged_at``.

    ``next_step`` is the first step not yet sent. Every step from there whose instant is at or before
    ``now`` is due; with ``fall_through`` (a channel of the previous step failed) the first unsent step is
    due at once whatever its delay, and so are the steps sharing its delay. ``next_at`` is the instant of
    the first step still waiting. Raises ``ValueError`` for a ``next_step`` outside ``0..len(rules)``.
    """
    if not 0 <= next_step <= len(rules):
        raise ValueError(f"next_step {next_step} outside 0..{len(rules)}")
    send: list[int] = []
    n = next_step
    if fall_through and n < len(rules):
        delay = rules[n].delay_minutes
        while n < len(rules) and rules[n].delay_minutes == delay:
            send.append(n)
            n += 1
    while n < len(rules) and step_at(paged_at, rules[n]) <= now:
        send.append(n)
        n += 1
    next_at = step_at(paged_at, rules[n]) if n < len(rules) else None
    return StepsDue(tuple(send), next_at, n)


# -- shift reminders ----------------------------------------------------------------------------------

ReminderKind = Literal["before", "start", "end"]
LONGEST_REMINDER_LEAD_MINUTES = 7 * 24 * 60  # a week ahead at most
REMINDER_HORIZON = timedelta(days=35)  # how far ahead the engine looks for the next reminder


class ReminderSettings(Struct, frozen=True):
    """What a person asked for: ``before_minutes`` ahead of a shift's start (None: no such reminder),
    and whether to be told when a shift starts and when it ends."""

    before_minutes: int | None = None
    at_start: bool = False
    at_end: bool = False

    @property
    def any(self) -> bool:
        return self.before_minutes is not None or self.at_start or self.at_end


class OwnShift(Struct, frozen=True):
    """A person's shift on one schedule: ``[start, end)``, overrides applied, adjacent pieces merged."""

    schedule_id: str
    start: datetime
    end: datetime


class Reminder(Struct, frozen=True):
    at: datetime
    kind: ReminderKind
    shift: OwnShift


def merge_shifts(schedule_id: str, pieces: Iterable[tuple[datetime, datetime]]) -> tuple[OwnShift, ...]:
    """One schedule's ownership pieces of one person, merged where one ends as the next begins."""
    out: list[OwnShift] = []
    for start, end in sorted(pieces):
        if out and start <= out[-1].end:
            if end > out[-1].end:
                out[-1] = OwnShift(schedule_id, out[-1].start, end)
            continue
        out.append(OwnShift(schedule_id, start, end))
    return tuple(out)


def reminders(
    shifts: Iterable[OwnShift], settings: ReminderSettings, window_start: datetime, window_end: datetime
) -> list[Reminder]:
    """Every reminder of ``shifts`` whose instant lies in ``[window_start, window_end)``, in time order
    (ties: before, start, end; then schedule id).

    A shift already running at ``window_start`` is not "started" inside the window (its start lies
    before it): the window must reach back to the real start for that, which callers get by passing
    shifts computed over a wider span than the window. A shift's end at the window's edge is only known
    if the shift data reaches past it; a shift whose ``end`` is the edge of the data it came from should
    not be given an end reminder (callers compute shifts over a span longer than the window).
    """
    order = {"before": 0, "start": 1, "end": 2}
    out: list[Reminder] = []
    for s in shifts:
        candidates: list[tuple[datetime, ReminderKind]] = []
        if settings.before_minutes is not None:
            candidates.append((s.start - timedelta(minutes=settings.before_minutes), "before"))
        if settings.at_start:
            candidates.append((s.start, "start"))
        if settings.at_end:
            candidates.append((s.end, "end"))
        for at, kind in candidates:
            if window_start <= at < window_end:
                out.append(Reminder(at, kind, s))
    out.sort(key=lambda r: (r.at, order[r.kind], r.shift.schedule_id))
    return out


def next_reminder_after(
    shifts: Iterable[OwnShift], settings: ReminderSettings, after: datetime, horizon_end: datetime
) -> Reminder | None:
    """The first reminder strictly after ``after`` and before ``horizon_end``, or None."""
    found = [r for r in reminders(shifts, settings, after, horizon_end) if r.at > after]
    return found[0] if found else None


def reminders_at(shifts: Iterable[OwnShift], settings: ReminderSettings, at: datetime) -> list[Reminder]:
    """The reminders due exactly at ``at`` (what a reminder timer armed for ``at`` should still send:
    none when the shift it was armed for no longer exists)."""
    return [r for r in reminders(shifts, settings, at, at + timedelta(microseconds=1)) if r.at == at]


def _lead_text(lead: timedelta) -> str:
    """``2 h``, ``30 min``, ``1 h 30 min`` (whole minutes; a week is ``168 h``)."""
    minutes = max(0, int(lead.total_seconds() // 60))
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def _local_text(instant: datetime, zone: str, reference: datetime) -> str:
    """``14:00 Europe/London``, with the local date (``Sat 24 Oct 14:00 Europe/London``) when it is not
    the local day of ``reference``."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    local, ref = instant.astimezone(tz), reference.astimezone(tz)
    day = "" if local.date() == ref.date() else local.strftime("%a %d %b ").lstrip("0")
    return f"{day}{local:%H:%M} {zone}"


def reminder_text(reminder: Reminder, schedule_name: str, zone: str) -> str:
    """The reminder as one sentence, times in the schedule's time zone ``zone`` (an IANA name):

    * ``Your on-call shift on Primary starts in 2 h (14:00 Europe/London)``;
    * ``Your on-call shift on Primary starts now (14:00 Europe/London) and ends Sat 24 Oct 09:00 Europe/London``;
    * ``Your on-call shift on Primary ends now (09:00 Europe/London)``.
    """
    shift, at = reminder.shift, reminder.at
    head = f"Your on-call shift on {schedule_name}"
    if reminder.kind == "before":
        return f"{head} starts in {_lead_text(shift.start - at)} ({_local_text(shift.start, zone, at)})"
    if reminder.kind == "start":
        return f"{head} starts now ({_local_text(shift.start, zone, at)}) and ends {_local_text(shift.end, zone, at)}"
    return f"{head} ends now ({_local_text(shift.end, zone, at)})"
