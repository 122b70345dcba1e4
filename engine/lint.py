"""The policy linter: pure checks over policies, schedules and the set of active users.

Each check returns :class:`Finding` objects with a level, a stable ``code``, a sentence and a hint.
Levels mean:

* ``error``: paging is broken or will certainly misbehave (a layer that can never page anyone, a final
  layer with under 5 minutes to acknowledge, a removed user in a target, a layer that adds nobody new).
  ``oncall lint`` exits 1 when there is one, so it can gate CI.
* ``warning``: probably a mistake, or broken only some of the time (a gap in a schedule, a handoff in a
  DST gap, a hidden rotation layer, over an hour before the last layer is paged).
* ``info``: worth knowing (how long the whole policy takes, partly overlapping layers).

Everything is computed over a window ``[start, end)`` (the next N weeks) by walking the instants at which
a schedule's answer changes (:func:`engine.rotation.resolve`'s ``next_handoff``), never minute by minute.
DST handoff checks look a year ahead, since a clock change is rarely within the next few weeks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine import rotation
from engine.model import Membership, Policy, Schedule, Target
from engine.timefmt import to_iso

__all__ = ["LEVELS", "Finding", "lint_policy", "lint_schedule", "target_segments"]

LEVELS = ("error", "warning", "info")
FINAL_LAYER_ERROR_MINUTES = 5
FINAL_LAYER_WARNING_MINUTES = 10
SLOW_ESCALATION_MINUTES = 60
DST_LOOKAHEAD = timedelta(days=366)

Segment = tuple[datetime, datetime, frozenset[str]]


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning | info
    code: str
    subject: str  # what it is about, as people name it: 'policy "Platform Default" layer 2'
    message: str
    hint: str = ""
    policy_id: str | None = None
    schedule_id: str | None = None
    position: int | None = None
    at: datetime | None = None  # the first instant concerned, when there is one

    def wire(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "code": self.code,
            "subject": self.subject,
            "message": self.message,
            "hint": self.hint,
            "policyId": self.policy_id,
            "scheduleId": self.schedule_id,
            "position": self.position,
            "at": None if self.at is None else to_iso(self.at),
        }


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (LEVELS.index(f.level), f.subject, f.position or 0, f.code))


# --------------------------------------------------------------------------------------------- helpers


def duration_text(delta: timedelta) -> str:
    """``3d 4h``, ``5h 30m``, ``45m``."""
    minutes = int(delta.total_seconds() // 60)
    d, rem = divmod(minutes, 1440)
    h, m = divmod(rem, 60)
    parts = [f"{d}d"] if d else []
    if h:
        parts.append(f"{h}h")
    if m and not d:
        parts.append(f"{m}m")
    return " ".join(parts) or f"{int(delta.total_seconds())}s"


def _when(at: datetime, zone: str) -> str:
    tz = rotation.validate_timezone(zone)
    local = at.astimezone(tz)
    return f"{local:%a %d %b %Y %H:%M %Z}"


def _people(ids: Iterable[str], names: Mapping[str, str]) -> str:
    return ", ".join(names.get(u, u) for u in ids) or "nobody"


def target_segments(
    target: Target, schedules: Mapping[str, Schedule], active: frozenset[str], start: datetime, end: datetime
) -> list[Segment]:
    """Who ``target`` pages over ``[start, end)``, as consecutive ``(from, to, people)`` pieces; only
    active users count, exactly as when paging (:func:`engine.rotation.resolve_target`: a removed user's
    turn is a gap and their override does not apply). A missing schedule pages nobody."""
    members = Membership(active)
    if target.type == "users":
        return [(start, end, frozenset(rotation.resolve_target(target, None, start, members).user_ids))]
    sched = schedules.get(target.schedule_id or "")
    if sched is None:
        return [(start, end, frozenset())]
    out: list[Segment] = []
    t = start
    while t < end:
        res = rotation.resolve(sched, t, members)
        who = frozenset(res.paging_targets)
        nxt = res.next_handoff if res.next_handoff is not None and res.next_handoff > t else end
        nxt = min(nxt, end)
        if out and out[-1][2] == who and out[-1][1] == t:
            out[-1] = (out[-1][0], nxt, who)
        else:
            out.append((t, nxt, who))
        t = nxt
    return out


def _at(segments: list[Segment], starts: list[datetime], t: datetime) -> frozenset[str]:
    i = bisect_right(starts, t) - 1
    if i >= 0 and segments[i][0] <= t < segments[i][1]:
        return segments[i][2]
    return frozenset()


def _pieces(*layers: list[Segment]) -> list[tuple[datetime, datetime, list[frozenset[str]]]]:
    """The common refinement of several segment lists: elementary intervals with each list's people."""
    edges = sorted({x for segs in layers for a, b, _ in segs for x in (a, b)})
    starts = [[a for a, _, _ in segs] for segs in layers]
    return [
        (a, b, [_at(segs, st, a) for segs, st in zip(layers, starts, strict=True)])
        for a, b in zip(edges, edges[1:], strict=False)
    ]


def _total(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    return sum((b - a for a, b in intervals), timedelta())


# --------------------------------------------------------------------------------------------- policies


def lint_policy(
    plan: Policy,
    schedules: Mapping[str, Schedule],
    active: frozenset[str],
    names: Mapping[str, str],
    start: datetime,
    end: datetime,
    zone: str = "UTC",
) -> list[Finding]:
    """Every policy check over ``[start, end)``; ``names`` may include removed users (for messages)."""
    subject = f'policy "{plan.name}"'
    out: list[Finding] = []

    def add(level: str, code: str, message: str, hint: str, position: int | None = None, **kw: Any) -> None:
        where = subject if position is None else f"{subject} layer {position}"
        out.append(Finding(level, code, where, message, hint, plan.id, position=position, **kw))

    n = len(plan.layers)
    if n == 0:
        add("error", "no_layers", "has no layers, so its incidents page nobody", "add at least one layer")
        return out

    segs: list[list[Segment]] = []
    window = duration_text(end - start)
    for layer in plan.layers:
        t = layer.target
        pos = layer.position
        if t.type == "users":
            gone = [u for u in t.user_ids if u not in active]
            for uid in gone:
                known = uid in names
                add(
                    "error",
                    "unknown_user",
                    f"targets {names[uid]}, who has been removed"
                    if known
                    else f"targets an unknown user id {uid!r}",
                    "replace them in the layer's target with someone who is still in the organisation",
                    pos,
                )
        elif t.schedule_id not in schedules:
            add(
                "error",
                "missing_schedule",
                f"targets a schedule that no longer exists ({t.schedule_id})",
                "point the layer at an existing schedule",
                pos,
            )
        layer_segs = target_segments(t, schedules, active, start, end)
        segs.append(layer_segs)
        empty = [(a, b) for a, b, who in layer_segs if not who]
        if empty and _total(empty) >= end - start:
            add(
                "error",
                "layer_pages_nobody",
                f"resolves to nobody at any time in the next {window}: it is always skipped",
                "give the layer people, or fix its schedule's rotations",
                pos,
                at=start,
            )
        elif empty:
            add(
                "warning",
                "layer_pages_nobody",
                f"resolves to nobody for {duration_text(_total(empty))} of the next {window}, first from "
                f"{_when(empty[0][0], zone)} to {_when(empty[0][1], zone)}; the layer is skipped then",
                "cover the gap in the schedule (another rotation layer or an override)",
                pos,
                at=empty[0][0],
            )

    # Every layer empty at once: an incident then pages nobody at all.
    if n > 1:
        nobody = [(a, b) for a, b, whos in _pieces(*segs) if not any(whos)]
        if nobody:
            add(
                "error",
                "policy_pages_nobody",
                f"every layer resolves to nobody for {duration_text(_total(nobody))} of the next {window}, "
                f"first at {_when(nobody[0][0], zone)}: an incident then pages no one",
                "make sure at least one layer (usually the last) always has someone",
                at=nobody[0][0],
            )

    # Consecutive layers that page the same people.
    for k in range(n - 1):
        first, second = plan.layers[k], plan.layers[k + 1]
        pieces = [(a, b, w[0], w[1]) for a, b, w in _pieces(segs[k], segs[k + 1])]
        nothing_new = [(a, b) for a, b, x, y in pieces if y and y <= x]
        live = [(a, b) for a, b, _, y in pieces if y]
        shared: set[str] = set()
        for _, _, x, y in pieces:
            shared |= x & y
        if nothing_new and _total(nothing_new) >= _total(live):
            add(
                "error",
                "repeated_people",
                f"adds nobody new: it pages the same people as layer {first.position} "
                f"({_people(sorted(shared), names)}), so escalating reaches no one else",
                f"target different people in layer {second.position}, or remove it",
                second.position,
            )
        elif nothing_new:
            add(
                "warning",
                "repeated_people",
                f"adds nobody new for {duration_text(_total(nothing_new))} of the next {window} (from "
                f"{_when(nothing_new[0][0], zone)}): the same people as layer {first.position}",
                "check that the two schedules' rotations are not aligned on the same person",
                second.position,
                at=nothing_new[0][0],
            )
        elif shared:
            add(
                "info",
                "repeated_people",
                f"also pages {_people(sorted(shared), names)}, already paged by layer {first.position}",
                "fine if intended (e.g. a lead on both layers)",
                second.position,
            )

    last = plan.layers[-1]
    to_last = sum(layer.ack_timeout_minutes for layer in plan.layers[:-1])
    total = to_last + last.ack_timeout_minutes
    if last.ack_timeout_minutes < FINAL_LAYER_ERROR_MINUTES:
        level = "warning" if plan.repeat else "error"
        after = "before the layers start over" if plan.repeat else "before paging stops for good"
        add(
            level,
            "final_layer_short_timeout",
            f"is the last layer and allows only {last.ack_timeout_minutes} minute"
            f"{'s' if last.ack_timeout_minutes != 1 else ''} to acknowledge {after}",
            f"give the last layer at least {FINAL_LAYER_WARNING_MINUTES} minutes (people need time to "
            "wake up and log in)",
            last.position,
        )
    elif last.ack_timeout_minutes < FINAL_LAYER_WARNING_MINUTES and not plan.repeat:
        add(
            "warning",
            "final_layer_short_timeout",
            f"is the last layer and allows only {last.ack_timeout_minutes} minutes to acknowledge before "
            "paging stops",
            f"consider {FINAL_LAYER_WARNING_MINUTES} minutes or more for the last layer",
            last.position,
        )
    if n > 1 and to_last > SLOW_ESCALATION_MINUTES:
        add(
            "warning",
            "slow_escalation",
            f"pages its last layer {duration_text(timedelta(minutes=to_last))} after the incident opens",
            "shorten the earlier layers' timeouts so the last line is reached within an hour",
        )
    else:
        add(
            "info",
            "escalation_time",
            f"pages its last layer {duration_text(timedelta(minutes=to_last))} after the incident opens; "
            f"paging stops after {duration_text(timedelta(minutes=total))}"
            + (f" and {plan.repeat} repeat(s)" if plan.repeat else ""),
            "",
        )
    return out


# --------------------------------------------------------------------------------------------- schedules


def lint_schedule(
    sched: Schedule,
    active: frozenset[str],
    names: Mapping[str, str],
    start: datetime,
    end: datetime,
) -> list[Finding]:
    """Gaps, removed participants, DST handoffs and hidden rotation layers of one schedule."""
    subject = f'schedule "{sched.name}"'
    zone = sched.timezone
    window = duration_text(end - start)
    out: list[Finding] = []

    def add(level: str, code: str, message: str, hint: str, sub: str = "", **kw: Any) -> None:
        out.append(Finding(level, code, subject + sub, message, hint, schedule_id=sched.id, **kw))

    if not sched.layers:
        add(
            "warning", "no_rotation_layers", "has no rotation layers: it pages nobody", "add a rotation layer"
        )
        return out

    for layer in sched.layers:
        gone = [u for u in dict.fromkeys(layer.participant_ids) if u not in active]
        for uid in gone:
            add(
                "error",
                "unknown_user",
                f"still rotates {names[uid]}, who has been removed: their shifts page nobody from this layer"
                if uid in names
                else f"rotates an unknown user id {uid!r}",
                "remove them from the rotation's participants",
                f' rotation "{layer.name}"',
            )
    for o in sched.overrides:
        if o.user_id not in active and o.end > start and o.start < end:
            add(
                "error",
                "unknown_user",
                f"has an override by {names.get(o.user_id, o.user_id)}, who is no longer in the organisation, "
                f"from {_when(o.start, zone)}",
                "delete the override or replace it with someone else's",
                at=o.start,
            )

    shifts = rotation.shifts(sched, start, end)
    if shifts.gaps:
        total = _total([(g.start, g.end) for g in shifts.gaps])
        g = shifts.gaps[0]
        add(
            "warning",
            "schedule_gap",
            f"has nobody on call for {duration_text(total)} of the next {window}, first from "
            f"{_when(g.start, zone)} to {_when(g.end, zone)}",
            "extend a rotation layer (effective dates) or add an override for the gap",
            at=g.start,
        )

    for h in rotation.handoff_dst_issues(sched, start, start + max(DST_LOOKAHEAD, end - start)):
        layer_name = next((la.name for la in sched.layers if la.id == h.layer_id), h.layer_id)
        local = h.intended_local.replace("T", " ")
        if h.dst == "gap":
            msg = (
                f"hands off at {local}, a time the clocks skip in {zone}; the handoff happens at "
                f"{_when(h.at, zone)} instead (an hour late)"
            )
        else:
            msg = (
                f"hands off at {local}, a time that happens twice in {zone}; the handoff happens at the "
                f"first one ({_when(h.at, zone)})"
            )
        add(
            "warning",
            "handoff_in_dst_" + (h.dst or ""),
            msg,
            "move the handoff time outside 01:00-03:00 local, e.g. 09:00",
            f' rotation "{layer_name}"',
            at=h.at,
        )

    # Rotation layers that never change who is paged: hidden by higher-precedence (lower position) ones.
    ordered = sorted(sched.layers, key=lambda la: la.position)
    per_layer = {ls.layer_id: ls for ls in shifts.layers}
    for k, layer in enumerate(ordered):
        mine = [(s.start, s.end, frozenset({s.user_id})) for s in per_layer[layer.id].shifts]
        if not mine:
            add(
                "info",
                "inactive_layer",
                f"is not active at any time in the next {window}",
                "delete it if it has ended for good",
                f' rotation "{layer.name}"',
            )
            continue
        if k == 0:
            continue
        above = [
            [(s.start, s.end, frozenset({s.user_id})) for s in per_layer[o.id].shifts] for o in ordered[:k]
        ]
        hidden = True
        for _a, _b, whos in _pieces(mine, *above):
            own = whos[0]
            if own and not own <= frozenset().union(*whos[1:]):
                hidden = False
                break
        if hidden:
            add(
                "warning",
                "hidden_layer",
                f"never pages anyone new in the next {window}: whenever it is active, its person is already "
                "on call in a higher-precedence layer",
                "reorder or change its participants, or delete it",
                f' rotation "{layer.name}"',
            )
    return out


def window(now: datetime, weeks: int) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC)
    return start, start + timedelta(weeks=weeks)
