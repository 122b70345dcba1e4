"""Why each person was or was not paged for an incident: ``oncall explain``. Read-only.

The explanation is rebuilt from what the engine recorded (the ``escalations`` row and its policy
snapshot, and the incident's timeline) plus the schedules re-resolved with :func:`engine.rotation.resolve`
at the instants each layer was reached. Schedules are read as they are now: if a schedule was edited after
the page, the re-resolution may differ from what was paged, and the explanation says so.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from engine import rotation, snapshot
from engine.drill import format_instant, format_offset
from engine.errors import NotFound
from engine.model import Membership, Policy, Schedule
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as incidents_svc
from engine.service.drills import drill_zone
from engine.service.orgs import active_user_ids, membership, user_names
from engine.service.policies import load_policy_model
from engine.service.schedules import load_schedule_model
from engine.timefmt import parse_iso, to_iso
from storage import timeline

DST_NEAR = timedelta(hours=36)


def _plan_for(ctx: Ctx, incident_id: str, policy_id: str | None) -> tuple[Policy | None, bool]:
    """The policy as the escalation used it (its snapshot), else the live one; and whether it is a snapshot."""
    row = ctx.db.one("SELECT policy_snapshot FROM escalations WHERE incident_id = ?", (incident_id,))
    if row is not None:
        return snapshot.policy_from_json(json.loads(row["policy_snapshot"])), True
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


def explain(
    ctx: Ctx, ident: str, *, at: datetime | None = None, at_note: str | None = None
) -> dict[str, Any]:
    """The explanation in wire form; ``at`` adds who would have been paged had it fired then (``at_note``
    says how a local time given for it was read, e.g. in a DST change)."""
    with ctx.db.read():
        inc = incidents_svc.find_incident(ctx, ident)
        iid = inc["id"]
        names = user_names(ctx)
        active = active_user_ids(ctx)
        members = membership(ctx)
        plan, is_snapshot = _plan_for(ctx, iid, inc["escalationPolicyId"])
        state = escalator.escalation_state(ctx.db, iid)
        events = timeline.events(ctx.db, iid)
        cache: dict[str, Schedule | None] = {}
        zone = "UTC" if plan is None else drill_zone(ctx.db, plan)
        t0 = parse_iso(inc["createdAt"])
        live_changed = False
        if plan is not None and is_snapshot:
            try:
                live = load_policy_model(ctx.db, plan.id)
                live_changed = snapshot.policy_fingerprint(live) != snapshot.policy_fingerprint(plan)
            except NotFound:
                live_changed = True

        def off(t: datetime) -> str:
            return format_offset(t - t0)

        layers_out: list[dict[str, Any]] = []
        paged_by: dict[str, list[str]] = {}
        reached: dict[int, datetime] = {}
        acked: dict[str, Any] | None = None
        exhausted_at: datetime | None = None
        for ev in events:
            when = parse_iso(ev["at"])
            d = ev["data"]
            if ev["kind"] in ("layer_paged", "nobody_on_call") and d.get("position"):
                reached.setdefault(int(d["position"]), when)
            if ev["kind"] == "escalation_acknowledged":
                acked = {"at": when, "by": d.get("by"), "position": d.get("position")}
            if ev["kind"] == "escalation_exhausted":
                exhausted_at = when
        for layer in plan.layers if plan is not None else ():
            pos = layer.position
            target = layer.target
            item: dict[str, Any] = {
                "position": pos,
                "ackTimeoutMinutes": layer.ack_timeout_minutes,
                "target": {
                    "type": target.type,
                    "scheduleId": target.schedule_id,
                    "userIds": list(target.user_ids),
                },
                "targetText": "",
                "pages": [],
                "timers": [],
                "resolution": None,
                "notes": [],
            }
            sched = _schedule(ctx, cache, target.schedule_id) if target.type == "schedule" else None
            if target.type == "schedule":
                item["targetText"] = (
                    f'schedule "{sched.name}" ({sched.timezone})'
                    if sched is not None
                    else f"schedule {target.schedule_id} (deleted since)"
                )
            else:
                item["targetText"] = "users " + ", ".join(names.get(u, u) for u in target.user_ids)
                for u in target.user_ids:
                    if u not in active:
                        item["notes"].append(f"{names.get(u, u)} is listed but was removed: never paged")
            for ev in events:
                d = ev["data"]
                if d.get("position") != pos:
                    continue
                when = parse_iso(ev["at"])
                if ev["kind"] in ("layer_paged", "handoff_paged", "incident_repaged"):
                    who = [names.get(u, u) for u in d.get("userIds", [])]
                    for u in d.get("userIds", []):
                        paged_by.setdefault(u, []).append(
                            f"layer {pos} at {off(when)} ({d.get('reason') or ev['kind']})"
                        )
                    item["pages"].append(
                        {
                            "at": ev["at"],
                            "offset": off(when),
                            "users": who,
                            "reason": d.get("reason") or ev["kind"],
                        }
                    )
                    if d.get("timeoutAt"):
                        item["timers"].append(
                            {
                                "kind": "timeout armed",
                                "at": d["timeoutAt"],
                                "text": f"ack timeout due at {off(parse_iso(d['timeoutAt']))} "
                                f"({format_instant(parse_iso(d['timeoutAt']), zone)})",
                            }
                        )
                elif ev["kind"] == "nobody_on_call":
                    gone = [names.get(u, u) for u in d.get("removedUserIds", [])]
                    item["notes"].append(
                        f"at {off(when)} the target resolved to nobody"
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
                            "text": f"timed out at {off(when)} ({lateness}): nobody acknowledged",
                        }
                    )
                elif ev["kind"] == "escalation_acknowledged":
                    item["timers"].append(
                        {
                            "kind": "acknowledged",
                            "at": ev["at"],
                            "text": f"acknowledged at {off(when)} by {names.get(d.get('by') or '', d.get('by') or '?')}; "
                            "its timeout was cancelled",
                        }
                    )
            reached_at = reached.get(pos)
            if reached_at is not None and sched is not None:
                item["resolution"] = _resolution(sched, reached_at, names, members, sched.timezone)
            if reached_at is None:
                if acked is not None:
                    item["notes"].append(
                        f"not reached: acknowledged at {off(acked['at'])} by "
                        f"{names.get(acked['by'] or '', acked['by'] or '?')} (layer {acked['position']})"
                    )
                elif state is not None and state.get("state") == "paging" and state.get("nextEscalationAt"):
                    item["notes"].append(
                        f"not reached yet: the current layer times out at {off(parse_iso(state['nextEscalationAt']))}"
                    )
                else:
                    item["notes"].append("not reached")
            layers_out.append(item)

        # Everyone the policy could page, and why they were not paged.
        people: list[dict[str, Any]] = []
        candidates: dict[str, str] = {}
        for item, layer in zip(layers_out, plan.layers if plan else (), strict=False):
            if layer.target.type == "users":
                for u in layer.target.user_ids:
                    if item["pages"]:
                        candidates.setdefault(u, f"listed in layer {layer.position}")
                    else:
                        candidates.setdefault(u, f"listed in layer {layer.position}, which was not reached")
            else:
                sched = _schedule(ctx, cache, layer.target.schedule_id)
                if sched is None:
                    continue
                res = item["resolution"]
                for rl in sched.layers:
                    for u in rl.participant_ids:
                        if u in candidates:
                            continue
                        if res is None:
                            candidates[u] = (
                                f'in rotation "{rl.name}" of {sched.name}, but layer {layer.position} was not reached'
                            )
                            continue
                        lr = next((x for x in res["layers"] if x["name"] == rl.name), None)
                        if lr is None or not lr["active"]:
                            candidates[u] = (
                                f'in rotation "{rl.name}" of {sched.name}, which was not active then'
                            )
                        elif lr["userId"] == u and lr["displacedByOverride"]:
                            cover = res["override"]["user"] if res["override"] else "an override"
                            candidates[u] = (
                                f'had the shift in "{rl.name}" of {sched.name} but was covered by {cover}'
                            )
                        else:
                            candidates[u] = (
                                f'in rotation "{rl.name}" of {sched.name}, but {lr["user"]} had the shift '
                                f"(layer {layer.position} reached at {off(parse_iso(res['at']))})"
                            )
        for layer in plan.layers if plan else ():
            sched = (
                _schedule(ctx, cache, layer.target.schedule_id) if layer.target.type == "schedule" else None
            )
            if sched is None:
                continue
            for o in sched.overrides:
                candidates.setdefault(o.user_id, f"has an override on {sched.name}, at another time")
        for u in sorted(names, key=lambda x: names[x]):
            if u in paged_by:
                people.append(
                    {
                        "userId": u,
                        "name": names[u],
                        "paged": True,
                        "why": "paged by " + "; ".join(paged_by[u]),
                    }
                )
            elif u not in active and u in candidates:
                people.append(
                    {"userId": u, "name": names[u], "paged": False, "why": "removed from the organisation"}
                )
            elif u in candidates:
                people.append({"userId": u, "name": names[u], "paged": False, "why": candidates[u]})
            elif u in active:
                people.append(
                    {"userId": u, "name": names[u], "paged": False, "why": "not in any layer of this policy"}
                )

        what_if = None
        if at is not None and plan is not None:
            steps = []
            t = at
            for layer in plan.layers:
                sched = (
                    _schedule(ctx, cache, layer.target.schedule_id)
                    if layer.target.type == "schedule"
                    else None
                )
                ids = rotation.resolve_target(layer.target, sched, t, members).user_ids
                who = [names.get(u, u) for u in ids]
                steps.append(
                    {
                        "position": layer.position,
                        "at": to_iso(t),
                        "local": format_instant(t, zone),
                        "offset": format_offset(t - at),
                        "users": who,
                        "resolution": _resolution(sched, t, names, members, sched.timezone)
                        if layer.target.type == "schedule" and sched is not None
                        else None,
                    }
                )
                if who:
                    t = t + timedelta(minutes=layer.ack_timeout_minutes)
            what_if = {
                "at": to_iso(at),
                "local": format_instant(at, zone, year=True),
                "note": at_note,
                "layers": steps,
            }

    return {
        "incident": {
            "id": iid,
            "sequentialId": inc["sequentialId"],
            "title": inc["title"],
            "severity": inc["severity"],
            "status": inc["status"],
            "isDrill": inc["isDrill"],
            "createdAt": inc["createdAt"],
            "local": format_instant(t0, zone),
        },
        "timezone": zone,
        "policy": None
        if plan is None
        else {
            "id": plan.id,
            "name": plan.name,
            "layerCount": len(plan.layers),
            "repeat": plan.repeat,
            "snapshot": is_snapshot,
            "liveChangedSince": live_changed,
        },
        "escalation": state,
        "acknowledged": None
        if acked is None
        else {
            "at": to_iso(acked["at"]),
            "offset": off(acked["at"]),
            "by": names.get(acked["by"] or "", acked["by"]),
        },
        "exhaustedAt": None if exhausted_at is None else to_iso(exhausted_at),
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
