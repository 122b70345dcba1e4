"""Why each person was or was not paged for an incident: ``oncall explain``. Read-only.

The explanation is rebuilt from what the engine recorded (the ``escalations`` row and its policy
snapshot, and the incident's timeline) plus the schedules re-resolved with :func:`engine.rotation.resolve`
at the instants each layer was reached. Schedules are read as they are now: if a schedule was edited after
the page, the re-resolution may differ from what was paged, and the explanation says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine import rotation, snapshot
from engine.drill import format_instant, format_offset
from engine.errors import NotFound
from engine.model import EscalationLayer, Membership, Policy, Schedule
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as incidents_svc
from engine.service.drills import drill_zone
from engine.service.orgs import active_user_ids, membership, user_names
from engine.service.policies import load_policy_model
from engine.service.schedules import load_schedule_model
from engine.timefmt import parse_iso, to_iso
from storage import timeline
from storage.queries import escalations as escalation_queries

DST_NEAR = timedelta(hours=36)


def _plan_for(ctx: Ctx, incident_id: str, policy_id: str | None) -> tuple[Policy | None, bool]:
    """The policy as the escalation used it (its snapshot), else the live one; and whether it is a snapshot."""
    stored = escalation_queries.policy_snapshot(ctx.db, incident_id)
    if stored is not None:
        return snapshot.policy_from_json(json.loads(stored)), True
    if policy_id:
        try:
            return load_policy_model(ctx.db, policy_id), False
        except NotFound:
            return None, False
    return None, False


def incident_zone(ctx: Ctx, ident: str) -> str:
    inc = incidents_svc.find_incident(ctx, ident)
    plan, _ = _plan_for(ctx, inc["id"], inc["escalationPolicyId"])
    return "UTC" if plan is None else drill_zone(ctx.db, plan)


def _schedule(ctx: Ctx, cache: dict[str, Schedule | None], sid: str | None) -> Schedule | None:
    if not sid:
        return None
    if sid not in cache:
        try:
            cache[sid] = load_schedule_model(ctx.db, sid)
        except NotFound:
            cache[sid] = None
    return cache[sid]


def _resolution(
    sched: Schedule, at: datetime, names: dict[str, str], members: Membership, zone: str
) -> dict[str, Any]:
    """One schedule at one instant, every rotation layer shown, with overrides and nearby DST changes.

    Resolved as the engine resolves it (with the organisation's membership at ``at``): a layer whose turn
    belongs to a removed user names them with ``userRemoved: true`` and pages nobody."""
    res = rotation.resolve(sched, at, members)
    layers = []
    for lr in res.layers:
        uid = lr.participant_id or lr.vacated_by
        layers.append(
            {
                "name": lr.name,
                "position": lr.position,
                "active": lr.active,
                "userId": uid,
                "user": names.get(uid or "", uid),
                "userRemoved": lr.vacated_by is not None,
                "shiftStart": None if lr.shift_start is None else to_iso(lr.shift_start),
                "shiftEnd": None if lr.shift_end is None else to_iso(lr.shift_end),
                "shift": None
                if lr.shift_start is None
                else f"{format_instant(lr.shift_start, sched.timezone)} -> "
                + ("open-ended" if lr.shift_end is None else format_instant(lr.shift_end, sched.timezone)),
                "displacedByOverride": lr.displaced_by_override,
            }
        )
    dst = [
        {
            "at": to_iso(h.at),
            "kind": h.dst,
            "layer": next((la.name for la in sched.layers if la.id == h.layer_id), h.layer_id),
            "text": f"the {h.intended_local[11:]} handoff on {h.intended_local[:10]} "
            + ("fell in the spring-forward gap" if h.dst == "gap" else "fell in the fall-back overlap")
            + f" and happened at {format_instant(h.at, sched.timezone)}",
        }
        for h in rotation.handoff_dst_issues(sched, at - DST_NEAR, at + DST_NEAR)
    ]
    ov = res.override
    return {
        "scheduleId": sched.id,
        "schedule": sched.name,
        "timezone": sched.timezone,
        "at": to_iso(at),
        "layers": layers,
        "override": None
        if ov is None
        else {
            "userId": ov.user_id,
            "user": names.get(ov.user_id, ov.user_id),
            "start": to_iso(ov.start),
            "end": to_iso(ov.end),
        },
        "pagingTargets": [names.get(u, u) for u in res.paging_targets],
        "pagingTargetIds": list(res.paging_targets),
        "skippedRemoved": [names.get(u, u) for u in res.removed],
        "dst": dst,
    }


@dataclass
class _Facts:
    """Everything one explanation reads, once, inside its read transaction."""

    ctx: Ctx
    inc: dict[str, Any]
    names: dict[str, str]
    active: set[str]
    members: Membership
    plan: Policy | None
    is_snapshot: bool
    state: dict[str, Any] | None
    events: list[dict[str, Any]]
    zone: str
    t0: datetime
    cache: dict[str, Schedule | None] = field(default_factory=dict)

    @property
    def layers(self) -> tuple[EscalationLayer, ...]:
        return () if self.plan is None else self.plan.layers

    def off(self, t: datetime) -> str:
        """``t`` as an offset from the incident's creation (``+5m``)."""
        return format_offset(t - self.t0)

    def schedule(self, layer: EscalationLayer) -> Schedule | None:
        """The layer's schedule as it is now (None for a users target or a deleted schedule)."""
        if layer.target.type != "schedule":
            return None
        return _schedule(self.ctx, self.cache, layer.target.schedule_id)


def _read_facts(ctx: Ctx, ident: str) -> _Facts:
    inc = incidents_svc.find_incident(ctx, ident)
    iid = inc["id"]
    plan, is_snapshot = _plan_for(ctx, iid, inc["escalationPolicyId"])
    return _Facts(
        ctx=ctx,
        inc=inc,
        names=user_names(ctx),
        active=set(active_user_ids(ctx)),
        members=membership(ctx),
        plan=plan,
        is_snapshot=is_snapshot,
        state=escalator.escalation_state(ctx.db, iid),
        events=timeline.events(ctx.db, iid),
        zone="UTC" if plan is None else drill_zone(ctx.db, plan),
        t0=parse_iso(inc["createdAt"]),
    )


def _live_changed(f: _Facts) -> bool:
    """Has the live policy changed (or gone) since the escalation took its snapshot?"""
    if f.plan is None or not f.is_snapshot:
        return False
    try:
        live = load_policy_model(f.ctx.db, f.plan.id)
    except NotFound:
        return True
    return snapshot.policy_fingerprint(live) != snapshot.policy_fingerprint(f.plan)


@dataclass
class _Milestones:
    """When each layer was first reached, the acknowledgement, the exhaustion (from the timeline)."""

    reached: dict[int, datetime] = field(default_factory=dict)
    acked: dict[str, Any] | None = None
    exhausted_at: datetime | None = None


def _milestones(events: list[dict[str, Any]]) -> _Milestones:
    m = _Milestones()
    for ev in events:
        when = parse_iso(ev["at"])
        d = ev["data"]
        if ev["kind"] in ("layer_paged", "nobody_on_call") and d.get("position"):
            m.reached.setdefault(int(d["position"]), when)
        if ev["kind"] == "escalation_acknowledged":
            m.acked = {"at": when, "by": d.get("by"), "position": d.get("position")}
        if ev["kind"] == "escalation_exhausted":
            m.exhausted_at = when
    return m


def _describe_target(f: _Facts, layer: EscalationLayer, sched: Schedule | None, notes: list[str]) -> str:
    """The layer's target in words; notes listed users who were removed."""
    target = layer.target
    if target.type == "schedule":
        if sched is not None:
            return f'schedule "{sched.name}" ({sched.timezone})'
        return f"schedule {target.schedule_id} (deleted since)"
    for u in target.user_ids:
        if u not in f.active:
            notes.append(f"{f.names.get(u, u)} is listed but was removed: never paged")
    return "users " + ", ".join(f.names.get(u, u) for u in target.user_ids)


def _layer_events(f: _Facts, item: dict[str, Any], paged_by: dict[str, list[str]]) -> None:
    """The layer's pages, timers and notes from the timeline; who each page reached goes to ``paged_by``."""
    pos = item["position"]
    for ev in f.events:
        d = ev["data"]
        if d.get("position") != pos:
            continue
        when = parse_iso(ev["at"])
        if ev["kind"] in ("layer_paged", "handoff_paged", "incident_repaged"):
            reason = d.get("reason") or ev["kind"]
            for u in d.get("userIds", []):
                paged_by.setdefault(u, []).append(f"layer {pos} at {f.off(when)} ({reason})")
            item["pages"].append(
                {
                    "at": ev["at"],
                    "offset": f.off(when),
                    "users": [f.names.get(u, u) for u in d.get("userIds", [])],
                    "reason": reason,
                }
            )
            if d.get("timeoutAt"):
                due = parse_iso(d["timeoutAt"])
                item["timers"].append(
                    {
                        "kind": "timeout armed",
                        "at": d["timeoutAt"],
                        "text": f"ack timeout due at {f.off(due)} ({format_instant(due, f.zone)})",
                    }
                )
        elif ev["kind"] == "nobody_on_call":
            gone = [f.names.get(u, u) for u in d.get("removedUserIds", [])]
            item["notes"].append(
                f"at {f.off(when)} the target resolved to nobody"
                + (f" ({', '.join(gone)} removed from the organisation)" if gone else "")
                + "; the next layer was paged at once"
            )
        elif ev["kind"] == "escalation_timeout":
            late = int(d.get("lateMs") or 0)
            lateness = "on time" if late < 1000 else f"{late / 1000:.0f} s late"
            item["timers"].append(
                {
                    "kind": "timeout fired",
                    "at": ev["at"],
                    "text": f"timed out at {f.off(when)} ({lateness}): nobody acknowledged",
                }
            )
        elif ev["kind"] == "escalation_acknowledged":
            by = d.get("by") or ""
            item["timers"].append(
                {
                    "kind": "acknowledged",
                    "at": ev["at"],
                    "text": f"acknowledged at {f.off(when)} by {f.names.get(by, d.get('by') or '?')}; "
                    "its timeout was cancelled",
                }
            )


def _not_reached_note(f: _Facts, m: _Milestones) -> str:
    if m.acked is not None:
        by = m.acked["by"] or ""
        return (
            f"not reached: acknowledged at {f.off(m.acked['at'])} by "
            f"{f.names.get(by, m.acked['by'] or '?')} (layer {m.acked['position']})"
        )
    if f.state is not None and f.state.get("state") == "paging" and f.state.get("nextEscalationAt"):
        return (
            f"not reached yet: the current layer times out at {f.off(parse_iso(f.state['nextEscalationAt']))}"
        )
    return "not reached"


def _explain_layer(
    f: _Facts, layer: EscalationLayer, m: _Milestones, paged_by: dict[str, list[str]]
) -> dict[str, Any]:
    """One policy layer: its target, what the timeline says happened to it, who it resolved to."""
    target = layer.target
    notes: list[str] = []
    sched = f.schedule(layer)
    item: dict[str, Any] = {
        "position": layer.position,
        "ackTimeoutMinutes": layer.ack_timeout_minutes,
        "target": {"type": target.type, "scheduleId": target.schedule_id, "userIds": list(target.user_ids)},
        "targetText": "",
        "pages": [],
        "timers": [],
        "resolution": None,
        "notes": notes,
    }
    item["targetText"] = _describe_target(f, layer, sched, notes)
    _layer_events(f, item, paged_by)
    reached_at = m.reached.get(layer.position)
    if reached_at is not None and sched is not None:
        item["resolution"] = _resolution(sched, reached_at, f.names, f.members, sched.timezone)
    if reached_at is None:
        notes.append(_not_reached_note(f, m))
    return item


def _why_in_schedule(
    f: _Facts, layer: EscalationLayer, sched: Schedule, res: dict[str, Any] | None, rl_name: str, u: str
) -> str:
    """Why a participant of rotation ``rl_name`` was not paged by ``layer`` (resolved as ``res``)."""
    if res is None:
        return f'in rotation "{rl_name}" of {sched.name}, but layer {layer.position} was not reached'
    lr = next((x for x in res["layers"] if x["name"] == rl_name), None)
    if lr is None or not lr["active"]:
        return f'in rotation "{rl_name}" of {sched.name}, which was not active then'
    if lr["userId"] == u and lr["displacedByOverride"]:
        cover = res["override"]["user"] if res["override"] else "an override"
        return f'had the shift in "{rl_name}" of {sched.name} but was covered by {cover}'
    return (
        f'in rotation "{rl_name}" of {sched.name}, but {lr["user"]} had the shift '
        f"(layer {layer.position} reached at {f.off(parse_iso(res['at']))})"
    )


def _candidates(f: _Facts, layers_out: list[dict[str, Any]]) -> dict[str, str]:
    """Everyone the policy could page, with why they were not (the first reason found wins)."""
    candidates: dict[str, str] = {}
    for item, layer in zip(layers_out, f.layers, strict=False):
        if layer.target.type == "users":
            for u in layer.target.user_ids:
                if item["pages"]:
                    candidates.setdefault(u, f"listed in layer {layer.position}")
                else:
                    candidates.setdefault(u, f"listed in layer {layer.position}, which was not reached")
            continue
        sched = _schedule(f.ctx, f.cache, layer.target.schedule_id)
        if sched is None:
            continue
        for rl in sched.layers:
            for u in rl.participant_ids:
                if u not in candidates:
                    candidates[u] = _why_in_schedule(f, layer, sched, item["resolution"], rl.name, u)
    for layer in f.layers:
        sched = f.schedule(layer)
        if sched is None:
            continue
        for o in sched.overrides:
            candidates.setdefault(o.user_id, f"has an override on {sched.name}, at another time")
    return candidates


def _people(f: _Facts, paged_by: dict[str, list[str]], candidates: dict[str, str]) -> list[dict[str, Any]]:
    """Every person of the organisation (by name), paged or not, and why."""
    people: list[dict[str, Any]] = []
    names = f.names
    for u in sorted(names, key=lambda x: names[x]):
        if u in paged_by:
            why = "paged by " + "; ".join(paged_by[u])
        elif u not in f.active and u in candidates:
            why = "removed from the organisation"
        elif u in candidates:
            why = candidates[u]
        elif u in f.active:
            why = "not in any layer of this policy"
        else:
            continue
        people.append({"userId": u, "name": names[u], "paged": u in paged_by, "why": why})
    return people


def _what_if(f: _Facts, at: datetime, at_note: str | None) -> dict[str, Any] | None:
    """Who each layer would have paged had the incident started at ``at`` (a layer that resolves to
    nobody passes on at once)."""
    if f.plan is None:
        return None
    steps = []
    t = at
    for layer in f.plan.layers:
        sched = f.schedule(layer)
        ids = rotation.resolve_target(layer.target, sched, t, f.members).user_ids
        who = [f.names.get(u, u) for u in ids]
        steps.append(
            {
                "position": layer.position,
                "at": to_iso(t),
                "local": format_instant(t, f.zone),
                "offset": format_offset(t - at),
                "users": who,
                "resolution": _resolution(sched, t, f.names, f.members, sched.timezone)
                if sched is not None
                else None,
            }
        )
        if who:
            t = t + timedelta(minutes=layer.ack_timeout_minutes)
    return {
        "at": to_iso(at),
        "local": format_instant(at, f.zone, year=True),
        "note": at_note,
        "layers": steps,
    }


def explain(
    ctx: Ctx, ident: str, *, at: datetime | None = None, at_note: str | None = None
) -> dict[str, Any]:
    """The explanation in wire form; ``at`` adds who would have been paged had it fired then (``at_note``
    says how a local time given for it was read, e.g. in a DST change).

    ``{incident, timezone, policy, escalation, acknowledged, exhaustedAt, layers, people, whatIf}``;
    raises NotFound (404) for an incident outside the organisation.
    """
    with ctx.db.read():
        f = _read_facts(ctx, ident)
        live_changed = _live_changed(f)
        m = _milestones(f.events)
        paged_by: dict[str, list[str]] = {}
        layers_out = [_explain_layer(f, layer, m, paged_by) for layer in f.layers]
        people = _people(f, paged_by, _candidates(f, layers_out))
        what_if = None if at is None else _what_if(f, at, at_note)
    inc, plan, acked = f.inc, f.plan, m.acked
    return {
        "incident": {
            "id": inc["id"],
            "sequentialId": inc["sequentialId"],
            "title": inc["title"],
            "severity": inc["severity"],
            "status": inc["status"],
            "isDrill": inc["isDrill"],
            "createdAt": inc["createdAt"],
            "local": format_instant(f.t0, f.zone),
        },
        "timezone": f.zone,
        "policy": None
        if plan is None
        else {
            "id": plan.id,
            "name": plan.name,
            "layerCount": len(plan.layers),
            "repeat": plan.repeat,
            "snapshot": f.is_snapshot,
            "liveChangedSince": live_changed,
        },
        "escalation": f.state,
        "acknowledged": None
        if acked is None
        else {
            "at": to_iso(acked["at"]),
            "offset": f.off(acked["at"]),
            "by": f.names.get(acked["by"] or "", acked["by"]),
        },
        "exhaustedAt": None if m.exhausted_at is None else to_iso(m.exhausted_at),
        "layers": layers_out,
        "people": people,
        "whatIf": what_if,
    }


def _resolution_lines(res: dict[str, Any], indent: str) -> list[str]:
    out = []
    for lr in res["layers"]:
        if not lr["active"]:
            out.append(f'{indent}rotation "{lr["name"]}": not active at that instant')
            continue
        extra = ""
        if lr["displacedByOverride"] and res["override"]:
            extra = f", covered by {res['override']['user']} (override)"
        if lr["userRemoved"]:
            out.append(f'{indent}rotation "{lr["name"]}": {lr["user"]}\'s turn, removed: nobody (a gap)')
            continue
        out.append(f'{indent}rotation "{lr["name"]}": {lr["user"]}{extra}; shift {lr["shift"]}')
    if res["override"] and not any(lr["displacedByOverride"] for lr in res["layers"]):
        out.append(f"{indent}override: {res['override']['user']} covers the schedule (no rotation active)")
    for d in res["dst"]:
        out.append(f"{indent}DST: {d['layer']}: {d['text']}")
    if not res["dst"]:
        out.append(f"{indent}DST: no handoff near this instant fell in a clock change")
    if res["skippedRemoved"]:
        out.append(f"{indent}removed from the organisation, not paged: {', '.join(res['skippedRemoved'])}")
    out.append(f"{indent}=> pages {', '.join(res['pagingTargets']) or 'nobody'}")
    return out


def explain_lines(data: dict[str, Any]) -> list[str]:
    """The explanation as the command line prints it."""
    inc = data["incident"]
    drill = "[DRILL] " if inc["isDrill"] else ""
    out = [
        f"#{inc['sequentialId']} {drill}{inc['title']}  ({inc['severity']}, {inc['status']})",
        f"opened {inc['local']}; times shown in {data['timezone']}, offsets from the opening (t+5m)",
    ]
    pol = data["policy"]
    if pol is None:
        out.append("no escalation policy: nobody was paged by the engine")
        return out
    used = (
        "as snapshotted when the escalation started"
        if pol["snapshot"]
        else "live (no escalation was started)"
    )
    out.append(f'policy "{pol["name"]}" {used}; {pol["layerCount"]} layers')
    if pol["liveChangedSince"]:
        out.append(
            "  note: the live policy has changed since; this escalation keeps the layers it started with"
        )
    if data["acknowledged"]:
        a = data["acknowledged"]
        out.append(f"acknowledged at {a['offset']} by {a['by']}")
    elif data["exhaustedAt"]:
        out.append("exhausted: every layer was paged and nobody acknowledged")
    elif data["escalation"]:
        out.append(f"escalation state: {data['escalation']['state']}")
    for item in data["layers"]:
        out.append("")
        out.append(f"layer {item['position']}  {item['targetText']}, ack within {item['ackTimeoutMinutes']}m")
        for p in item["pages"]:
            out.append(f"  paged   {p['offset']:<8} {', '.join(p['users'])} ({p['reason']})")
        if item["resolution"]:
            out.append(
                f"  resolved at {format_instant(parse_iso(item['resolution']['at']), data['timezone'])}:"
            )
            out.extend(_resolution_lines(item["resolution"], "    "))
        for t in item["timers"]:
            out.append(f"  timer   {t['text']}")
        for note in item["notes"]:
            out.append(f"  note    {note}")
    out.append("")
    out.append("people")
    width = max((len(p["name"]) for p in data["people"]), default=4)
    for p in data["people"]:
        mark = "PAGED" if p["paged"] else "not  "
        out.append(f"  {mark} {p['name']:<{width}}  {p['why']}")
    if data["whatIf"]:
        w = data["whatIf"]
        out.append("")
        out.append(f"had it fired at {w['local']} (nobody acknowledging):")
        if w.get("note"):
            out.append(f"  note: {w['note']}")
        for step in w["layers"]:
            out.append(
                f"  layer {step['position']} at {step['offset']:<8} {', '.join(step['users']) or 'nobody (skipped)'}"
            )
            if step["resolution"]:
                out.extend(_resolution_lines(step["resolution"], "      "))
    return out
