"""Drills: rehearse a page through the real escalation engine without touching live incidents.

:func:`start_drill` copies the database (SQLite's online backup, into memory), opens a drill incident
(``is_drill``, title starting ``DRILL:``) on the copy through the incident service, and so pages layer 1 at
the drill's start instant exactly as production would. :func:`advance_drill` then runs the same
:func:`engine.runtime.escalator.tick` the engine process runs, on the drill's clock, fires the paged people's
notification rule steps (the engine's ``notification_rule`` timers, :mod:`engine.runtime.rule_steps`: a
person's later contact methods show as ``step`` lines), and acknowledges as a paged
person when the :class:`engine.drill.AckPlan` says so. Both return the new timeline lines, so the command
line prints them as they happen and a console can drive the same drill a step at a time.

Guarantees:

* the live database is only read (one backup); every write goes to the in-memory copy, which disappears
  with the :class:`Drill`;
* on the copy, every other incident's escalation and every engine timer (other incidents' rule steps,
  shift reminders, …) is disarmed first, so only the drill pages;
* nothing is delivered unless ``deliver=True``: pages then go out through the real channels
  (:mod:`engine.runtime.delivery`) from the copy, with ``DRILL:`` in the incident title of every payload;
* a timeout (or a rule step) and an acknowledgement due at the same instant: the timeout fires first (an acknowledgement
  exactly at the timeout is too late, as with a live engine that ticks first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.clock import Clock, VirtualClock
from engine.drill import AckPlan, format_instant, format_offset
from engine.errors import DomainError, ValidationError
from engine.model import Policy
from engine.runtime import escalator, rule_steps, timers
from engine.service import Ctx
from engine.service import incidents as incidents_svc
from engine.service.orgs import first_admin_id, user_names
from engine.service.policies import find_policy, load_policy_model
from engine.timefmt import from_epoch_ms, parse_iso, to_iso
from storage import timeline
from storage.db import Database
from storage.queries import drills as drill_queries
from storage.queries import page_queue as queue_rows
from storage.queries import schedules as schedule_queries
from storage.queries import timers as timer_rows

__all__ = [
    "Drill",
    "DrillLine",
    "LayerScore",
    "acknowledge_drill",
    "advance_drill",
    "drill_zone",
    "layer_scores",
    "run_drill",
    "start_drill",
]

MAX_DRILL = timedelta(days=7)  # a drill that is still paging after a week of simulated time stops


@dataclass(frozen=True)
class DrillLine:
    """One thing that happened in a drill, ready to print or to show in a console."""

    at: datetime
    offset: timedelta  # since the drill started
    kind: str  # page | step | nobody | timeout | ack | exhausted | repeat | delivery | opened | note
    text: str  # the human sentence, names not ids
    layer: int | None = None
    user_id: str | None = None
    name: str | None = None
    channel: str | None = None

    def wire(self, zone: str) -> dict[str, Any]:
        return {
            "at": to_iso(self.at),
            "local": format_instant(self.at, zone),
            "offsetSeconds": int(self.offset.total_seconds()),
            "offset": format_offset(self.offset),
            "kind": self.kind,
            "layer": self.layer,
            "userId": self.user_id,
            "name": self.name,
            "channel": self.channel,
            "text": self.text,
        }


@dataclass
class Drill:
    """A drill in progress: the in-memory copy, its drill incident, its clock and what is left to do."""

    db: Database
    ctx: Ctx
    incident_id: str
    policy: Policy
    t0: datetime
    clock: Clock
    zone: str
    ack: AckPlan | None
    deliver: bool
    names: dict[str, str]
    schedule_names: dict[str, str]
    lines: list[DrillLine] = field(default_factory=list)
    ack_at: datetime | None = None
    ack_user: str | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    exhausted: bool = False
    stopped_reason: str | None = None
    paged: list[tuple[int, str]] = field(default_factory=list)  # (layer, user id) in paging order
    pages: int = 0
    deliveries: int = 0
    _seen: int = 0

    @property
    def finished(self) -> bool:
        return self.stopped_reason is not None

    def next_instant(self) -> datetime | None:
        """When something next happens (a timeout, a rule step, the planned acknowledgement, a delivery
        retry)."""
        if self.finished:
            return None
        state = escalator.escalation_state(self.db, self.incident_id) or {}
        times: list[datetime] = []
        due = state.get("nextEscalationAt")
        if due and state.get("state") == "paging":
            times.append(parse_iso(due))
        step = self.next_rule_step()
        if step is not None:
            times.append(step)
        if self.ack_at is not None and self.acked_at is None:
            times.append(self.ack_at)
        if self.deliver:
            ms = queue_rows.next_pending_ms(self.db, self.incident_id)
            if ms is not None:
                times.append(from_epoch_ms(ms))
        return min(times) if times else None

    def next_rule_step(self) -> datetime | None:
        """When a paged person's next notification rule step is due (their rule timer), or None."""
        mine = [t.due_at_ms for t in timer_rows.of_kind(self.db, rule_steps.KIND) if t.subject_id.startswith(
            f"{self.incident_id}:")]  # fmt: skip
        return from_epoch_ms(min(mine)) if mine else None

    def close(self) -> None:
        self.db.close()

    def summary(self) -> dict[str, Any]:
        people: list[str] = []
        for _, uid in self.paged:
            if uid not in people:
                people.append(uid)
        layers = sorted({layer for layer, _ in self.paged})
        tta = None if self.acked_at is None else self.acked_at - self.t0
        return {
            "acknowledged": self.acked_at is not None,
            "acknowledgedBy": None if self.acked_by is None else self.names.get(self.acked_by, self.acked_by),
            "timeToAcknowledgeSeconds": None if tta is None else int(tta.total_seconds()),
            "timeToAcknowledge": None if tta is None else format_offset(tta)[2:],
            "exhausted": self.exhausted,
            "layersUsed": layers,
            "layerCount": len(self.policy.layers),
            "peoplePaged": [self.names.get(u, u) for u in people],
            "pages": self.pages,
            "delivered": self.deliveries,
            "outcome": self.stopped_reason,
        }


def drill_zone(db: Database, plan: Policy) -> str:
    """The zone a drill of ``plan`` is shown in: the first schedule it targets, else UTC."""
    for layer in plan.layers:
        if layer.target.type == "schedule" and layer.target.schedule_id:
            zone = schedule_queries.schedule_timezone(db, layer.target.schedule_id)
            if zone is not None:
                return zone
    return "UTC"


def _ack_beyond_policy(layer_count: int, ack: AckPlan) -> str:
    """Why an ``--ack`` naming a layer the policy does not have is refused (before the drill runs)."""
    named = f"--ack {ack.text}" if ack.text else "--ack"
    return f"the policy has {layer_count} layer{'s' if layer_count != 1 else ''}; {named} names layer {ack.layer}"


def start_drill(
    source: Database,
    org_id: str,
    policy: str,
    *,
    at: datetime,
    clock: Clock | None = None,
    ack: AckPlan | None = None,
    deliver: bool = False,
    zone: str | None = None,
) -> Drill:
    """Copy ``source``, open the drill incident at ``at`` and page layer 1. Nothing is written to
    ``source``. ``clock`` defaults to a :class:`VirtualClock` at ``at``; a scaled clock must start there."""
    clock = clock or VirtualClock(at)
    db = drill_queries.scratch_copy(source)
    try:
        actor = first_admin_id(db, org_id)
        ctx = Ctx(db=db, org_id=org_id, actor_id=actor, actor_user_id=actor, clock=clock)
        pol = find_policy(ctx, policy)
        plan = load_policy_model(db, pol["id"])
        if not plan.layers:
            raise DomainError(
                "empty_policy", f"policy {plan.name!r} has no layers: a drill would page nobody"
            )
        if ack is not None and ack.layer > len(plan.layers):
            raise ValidationError(_ack_beyond_policy(len(plan.layers), ack), field="ack")
        with db.write():
            # Only the drill may page on the copy, nothing queued before it may be delivered from it, and
            # the copy runs on the drill's own clock, whatever the live database records (storage.db_clock).
            drill_queries.disarm_copy(db)
        names = user_names(ctx)
        schedule_names = schedule_queries.schedule_names(db, org_id)
        if isinstance(clock, VirtualClock):
            clock.advance_to(at)
        inc = incidents_svc.create_incident(
            ctx,
            {
                "title": f"DRILL: rehearsal of {plan.name} (no action needed)",
                "severity": "high",
                "escalationPolicyId": plan.id,
                "description": "A drill incident on a scratch copy of the database. It is not real.",
            },
            is_drill=True,
        )
    except BaseException:
        db.close()
        raise
    drill = Drill(
        db=db,
        ctx=ctx,
        incident_id=inc["id"],
        policy=plan,
        t0=parse_iso(inc["createdAt"]),
        clock=clock,
        zone=zone or drill_zone(db, plan),
        ack=ack,
        deliver=deliver,
        names=names,
        schedule_names=schedule_names,
    )
    _after_step(drill)
    return drill


def advance_drill(drill: Drill, until: datetime | None = None) -> list[DrillLine]:
    """Run everything due up to ``until`` and return the new lines.

    ``until`` defaults to the next instant something happens on a virtual clock (one step), and to the
    clock's ``now`` on a scaled or wall clock (so a caller polls it every fraction of a second).
    """
    start = len(drill.lines)
    virtual = isinstance(drill.clock, VirtualClock)
    if until is None:
        until = (drill.next_instant() if virtual else drill.clock.now()) or drill.clock.now()
    while not drill.finished:
        nxt = drill.next_instant()
        if nxt is None or nxt > until:
            break
        if isinstance(drill.clock, VirtualClock):
            drill.clock.advance_to(nxt)
        now = drill.clock.now()
        state = escalator.escalation_state(drill.db, drill.incident_id) or {}
        due = state.get("nextEscalationAt")
        step = drill.next_rule_step()
        timeout_first = (due is not None and parse_iso(due) <= now) or (step is not None and step <= now)
        if drill.ack_at is not None and drill.acked_at is None and drill.ack_at <= now and not timeout_first:
            _acknowledge(drill)
        else:
            escalator.tick(drill.db, now)
            timers.fire_due(drill.db, now, _DRILL_TIMERS)
            if drill.deliver:
                from engine.runtime import delivery

                while delivery.deliver_due(drill.db, drill.clock):
                    pass
        _after_step(drill)
    return drill.lines[start:]


_DRILL_TIMERS: dict[str, timers.TimerHandler] = {rule_steps.KIND: rule_steps.fire}
"""The engine timers a drill fires: the paged people's notification rule steps (the copy has no other)."""


def run_drill(drill: Drill) -> Iterator[list[DrillLine]]:
    """Drive the drill to its end, yielding each step's lines. On a virtual clock this never waits; on a
    scaled clock the caller sleeps between steps (see ``sleep_until``)."""
    yield list(drill.lines)
    while not drill.finished:
        yield advance_drill(drill)


def seconds_until_next(drill: Drill) -> float | None:
    """Real seconds to wait before the next step is due on the drill's clock (0 on a virtual clock)."""
    nxt = drill.next_instant()
    if nxt is None:
        return None
    return drill.clock.sleep_seconds(max(0.0, (nxt - drill.clock.now()).total_seconds()))


# -- turning timeline events into lines ------------------------------------------------------------


def _line(drill: Drill, at: datetime, kind: str, text: str, **extra: Any) -> DrillLine:
    return DrillLine(at=at, offset=at - drill.t0, kind=kind, text=text, **extra)


def _target_text(drill: Drill, target: dict[str, Any]) -> str:
    if target.get("type") == "schedule":
        sid = target.get("scheduleId") or ""
        return f"schedule {drill.schedule_names.get(sid, sid)}"
    return "users " + ", ".join(drill.names.get(u, u) for u in target.get("userIds", []))


def _after_step(drill: Drill) -> None:
    """Turn the drill incident's new timeline events into lines, and arm or finish what they imply."""
    events = timeline.events(drill.db, drill.incident_id)
    n_layers = len(drill.policy.layers)
    for ev in events[drill._seen :]:
        at = parse_iso(ev["at"])
        data = ev["data"]
        kind = ev["kind"]
        if kind == "incident_created":
            drill.lines.append(
                _line(drill, at, "opened", f"DRILL incident opened on policy {drill.policy.name}")
            )
        elif kind == "layer_paged":
            pos = data.get("position")
            channels: dict[str, list[str]] = {}
            for d in data.get("deliveries", []):
                channels.setdefault(d["userId"], []).append(d["channel"])
            timeout = data.get("timeoutAt")
            due = f", ack within {format_offset(parse_iso(timeout) - at)[2:]}" if timeout else ""
            reason = data.get("reason")
            why = "" if reason in (None, "escalation") else f" ({reason.replace('_', ' ')})"
            for uid in data.get("userIds", []):
                drill.pages += 1
                drill.paged.append((pos, uid))
                chans = channels.get(uid) or ["log"]
                how = ", ".join(chans)
                note = "" if drill.deliver or chans == ["log"] else " (not delivered: drill)"
                drill.lines.append(
                    _line(
                        drill,
                        at,
                        "page",
                        f"page    layer {pos}/{n_layers}  {drill.names.get(uid, uid)} via {how}{note}{due}{why}",
                        layer=pos,
                        user_id=uid,
                        name=drill.names.get(uid, uid),
                        channel=how,
                    )
                )
            if (
                drill.ack is not None
                and pos == drill.ack.layer
                and drill.ack_at is None
                and data.get("userIds")
            ):
                drill.ack_at = at + drill.ack.delay
                drill.ack_user = data["userIds"][0]
        elif kind == "notification_rule_step":
            uid = data.get("userId")
            chans = [d.get("channel") or "deleted contact method" for d in data.get("deliveries", [])]
            how = ", ".join(str(c) for c in chans) or "?"
            note = "" if drill.deliver or chans == ["log"] else " (not delivered: drill)"
            fell = " at once: the previous step failed" if data.get("fallThrough") else ""
            delay = f"+{data.get('delayMinutes')} min"
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "step",
                    f"step    rule {int(data.get('step', 0)) + 1} ({delay}{fell})  "
                    f"{drill.names.get(uid or '', uid or '?')} via {how}{note}",
                    layer=data.get("layer"),
                    user_id=uid,
                    name=drill.names.get(uid or "", uid),
                    channel=how,
                )
            )
        elif kind == "notification_rules_stopped":
            uid = data.get("userId")
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "note",
                    f"rules   {drill.names.get(uid or '', uid or '?')}: later steps stopped ({data.get('reason')}), "
                    f"{data.get('stepsSent')} of {data.get('stepCount')} sent",
                    user_id=uid,
                )
            )
        elif kind == "nobody_on_call":
            pos = data.get("position")
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "nobody",
                    f"nobody  layer {pos}/{n_layers}  nobody on call ({_target_text(drill, data.get('target', {}))}"
                    + "".join(
                        f"; {drill.names.get(u, u)} removed from the organisation"
                        for u in data.get("removedUserIds", [])
                    )
                    + ") -> next layer now",
                    layer=pos,
                )
            )
        elif kind == "escalation_timeout":
            pos = data.get("position")
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "timeout",
                    f"timeout layer {pos}/{n_layers}  nobody acknowledged in time",
                    layer=pos,
                )
            )
        elif kind == "escalation_repeated":
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "repeat",
                    f"repeat  pass {data.get('loop', 0) + 1} of {data.get('loops')} over the layers",
                )
            )
        elif kind == "escalation_exhausted":
            drill.exhausted = True
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "exhausted",
                    f"EXHAUSTED: all {n_layers} layers paged and nobody acknowledged; paging stops, "
                    "the incident stays open",
                )
            )
        elif kind == "escalation_acknowledged":
            uid = data.get("by")
            pos = data.get("position")
            drill.acked_at = at
            drill.acked_by = uid
            late = " (after exhaustion)" if drill.exhausted else ""
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "ack",
                    f"ack     layer {pos}/{n_layers}  {drill.names.get(uid or '', uid or '?')} acknowledged{late}",
                    layer=pos,
                    user_id=uid,
                    name=drill.names.get(uid or "", uid),
                )
            )
        elif kind in ("page_delivery_attempt", "page_delivery_failed", "page_delivery_unknown"):
            uid = data.get("userId")
            ok = bool(data.get("ok"))
            if kind == "page_delivery_attempt" and ok:
                drill.deliveries += 1
            result = data.get("result") or data.get("error") or kind.replace("_", " ")
            drill.lines.append(
                _line(
                    drill,
                    at,
                    "delivery",
                    f"send    {drill.names.get(uid or '', uid or '?')} via {data.get('channel')}: "
                    f"{'ok' if ok else 'FAILED'} ({result})",
                    layer=data.get("layer"),
                    user_id=uid,
                    channel=data.get("channel"),
                )
            )
    drill._seen = len(events)
    _maybe_finish(drill)


def _maybe_finish(drill: Drill) -> None:
    if drill.finished:
        return
    now = drill.clock.now()
    if drill.acked_at is not None:
        drill.stopped_reason = "acknowledged"
    elif drill.ack is not None and drill.ack_at is None and drill.exhausted:
        drill.stopped_reason = "exhausted"
        drill.lines.append(
            _line(drill, now, "note", f"layer {drill.ack.layer} never paged anyone, so nobody acknowledged")
        )
    elif drill.exhausted and drill.ack_at is None:
        drill.stopped_reason = "exhausted"
    elif now - drill.t0 > MAX_DRILL:
        drill.stopped_reason = "time limit"
        drill.lines.append(_line(drill, now, "note", "stopped: still paging after 7 days of drill time"))
    elif drill.next_instant() is None:
        state = escalator.escalation_state(drill.db, drill.incident_id) or {}
        drill.stopped_reason = str(state.get("state") or "stopped")


def acknowledge_drill(drill: Drill, user_id: str | None, *, is_admin: bool = False) -> list[DrillLine]:
    """Acknowledge the drill incident as ``user_id`` at the drill clock's ``now`` (a person at a console,
    rather than an :class:`AckPlan`), after running whatever is already due: a timeout due at the same
    instant fires first, as with a live engine. Returns the new lines; nothing once the drill finished."""
    start = len(drill.lines)
    advance_drill(drill, until=drill.clock.now())
    if not drill.finished:
        incidents_svc.acknowledge(drill.ctx.as_user(user_id, is_admin=is_admin), drill.incident_id)
        _after_step(drill)
    return drill.lines[start:]


def _acknowledge(drill: Drill) -> None:
    uid = drill.ack_user
    incidents_svc.acknowledge(drill.ctx.as_user(uid, is_admin=False), drill.incident_id)


def drill_wire(drill: Drill, at_note: str | None = None) -> dict[str, Any]:
    """The whole drill in wire form: what ``oncall drill --json`` prints."""
    return {
        "drill": True,
        "policy": drill.policy.name,
        "policyId": drill.policy.id,
        "startedAt": to_iso(drill.t0),
        "timezone": drill.zone,
        "note": at_note,
        "ack": None
        if drill.ack is None
        else {"layer": drill.ack.layer, "delaySeconds": int(drill.ack.delay.total_seconds())},
        "delivered": drill.deliver,
        "timeline": [line.wire(drill.zone) for line in drill.lines],
        "summary": drill.summary(),
    }


# -- the score card ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerScore:
    """One stretch of a drill during which one layer was being paged, and how it ended."""

    layer: int
    started: timedelta  # since the drill started
    paged_for: timedelta  # until the acknowledgement, the timeout or the next layer
    people: tuple[str, ...]  # names, in paging order
    ended: str  # acknowledged | timed out | nobody on call | escalated | still paging
    responder: str | None = None  # the name of who acknowledged, when this layer was acknowledged


def layer_scores(drill: Drill) -> list[LayerScore]:
    """The drill layer by layer, read from its lines: who each layer paged, for how long, how it ended.

    A layer paged again in a repeat pass gets a second entry; a re-page of the layer being paged (a
    reminder) adds to the current entry. Pure: reads only ``drill.lines`` (and the clock for a drill still
    paging)."""
    out: list[LayerScore] = []
    layer: int | None = None
    started = timedelta(0)
    people: list[str] = []

    def close(at: timedelta, ended: str, responder: str | None = None) -> None:
        nonlocal layer
        if layer is not None:
            out.append(LayerScore(layer, started, at - started, tuple(people), ended, responder))
        layer = None

    for line in drill.lines:
        if line.kind == "page" and line.layer is not None:
            if line.layer != layer:
                close(line.offset, "escalated")
                layer, started, people = line.layer, line.offset, []
            name = line.name or line.user_id or "?"
            if name not in people:
                people.append(name)
        elif line.kind == "repeat":
            close(line.offset, "timed out")
        elif line.kind == "nobody" and line.layer is not None:
            close(line.offset, "escalated")
            out.append(LayerScore(line.layer, line.offset, timedelta(0), (), "nobody on call"))
        elif line.kind == "timeout":
            close(line.offset, "timed out")
        elif line.kind == "ack":
            close(line.offset, "acknowledged", line.name)
    if layer is not None:
        close(drill.clock.now() - drill.t0, "still paging")
    return out
