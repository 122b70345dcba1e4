"""Personal notification rules in the engine: WHEN each of a person's contact methods is paged.

When a layer (or a handoff, a re-page, …) pages a person who has notification rules for the incident's
urgency (:func:`engine.notification_rules.urgency_of`), :func:`enqueue` writes the steps due at once (delay
0) to the page queue and arms one engine timer (kind :data:`KIND`, table ``timers``) for the next step.
The subject of that timer is the person's page, ``incident:layer:round:person[:discriminator]``; its data is
a snapshot of the person's steps at the page instant (later edits apply to the next page, as a policy
snapshot does for an escalation). Each page queue row of a step has the idempotency key
``incident:layer:round:person:channel[:discriminator]:step<n>`` (UNIQUE), so a step is written once
whatever fires it, and carries ``rule_subject``/``rule_step``.

:func:`fire` (the timer's handler, inside the engine's transaction) writes the steps now due and returns
the next step's instant, or None after the last one. It stops, recording ``notification_rules_stopped``,
once the page no longer wants the person: the incident was resolved, or acknowledged (by anyone) at or
after the page, or, for a layer's page, the escalation has moved to another layer or round (PagerDuty's
"until acknowledged or escalated away from them"), or the person was removed from the organisation. A person without rules for the urgency is paged on every
contact method at once, exactly as before rules existed.

Fall-through: when delivery gives up on a rule step's row (:func:`step_failed`, called by
:mod:`engine.runtime.delivery` in the transaction that records the failure) and that step is the latest one
sent, the timer is moved to that instant and its data names the step to send at once
(``fallThroughStep``); :func:`fire` sends it (and the steps sharing its delay) whatever their delay.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import msgspec

from engine import notification_rules as rules
from engine.outcome import Page
from engine.runtime import page_queue
from engine.runtime.page_queue import Contact
from engine.timefmt import from_epoch_ms, to_epoch_ms
from storage import timeline
from storage.db import Database
from storage.queries import notification_rules as queries
from storage.queries import timers
from storage.queries.timers import Timer

KIND = "notification_rule"

RulesCache = dict[tuple[str, str], list[tuple[int, Contact]]]


def subject(incident_id: str, page: Page, user_id: str) -> str:
    """The person's page: what one rule timer and its rows belong to."""
    position = "h" if page.position is None else str(page.position)
    base = f"{incident_id}:{position}:{page.round}:{user_id}"
    return base if page.discriminator is None else f"{base}:{page.discriminator}"


def steps_for(
    db: Database, user_id: str, urgency: str, cache: RulesCache | None = None
) -> list[tuple[int, Contact]]:
    """The person's steps for ``urgency`` in firing order, as ``(delay_minutes, contact)``; [] for none."""
    if cache is not None and (user_id, urgency) in cache:
        return cache[(user_id, urgency)]
    out = [
        (int(r["delay_minutes"]), Contact(r["contact_method_id"], r["channel"], r["address"], r["secret"]))
        for r in queries.steps(db, user_id, urgency)
    ]
    if cache is not None:
        cache[(user_id, urgency)] = out
    return out


def enqueue(
    db: Database,
    now: datetime,
    incident: sqlite3.Row | dict[str, Any],
    page: Page,
    *,
    layer_count: int | None = None,
    cache: dict[str, list[Contact]] | None = None,
    rules_cache: RulesCache | None = None,
    sink: list[page_queue.OutboxRow] | None = None,
) -> list[dict[str, Any]]:
    """Page everyone in ``page``: people with rules for the incident's urgency through their rules (steps
    due now written, the next one armed), everyone else on every contact method at once
    (:func:`engine.runtime.page_queue.enqueue`). Returns what was queued, for the timeline event; a person
    whose first step is later gets ``{"userId", "ruleStepsFrom": <instant of the first step>}``."""
    urgency = rules.urgency_of(incident["severity"])
    queued: list[dict[str, Any]] = []
    for user_id in page.user_ids:
        steps = steps_for(db, user_id, urgency, rules_cache)
        if not steps:
            one = page if len(page.user_ids) == 1 else msgspec.structs.replace(page, user_ids=(user_id,))
            queued += page_queue.enqueue(
                db, now, incident, one, layer_count=layer_count, cache=cache, sink=sink
            )
            continue
        subj = subject(incident["id"], page, user_id)
        plan = rules.ordered(rules.RuleStep(c.id or "", d) for d, c in steps)
        decision = rules.steps_due(plan, now, now, 0)
        contacts = {c.id: c for _, c in steps}
        for n in decision.send:
            contact = contacts[plan[n].contact_method_id]
            row, entry = page_queue.build_row(
                now, incident, page, user_id, contact, layer_count=layer_count, rule=(subj, n)
            )
            page_queue.put(db, row, entry, sink)
            queued.append(entry)
        if decision.next_at is not None:
            timers.arm(
                db,
                org_id=incident["org_id"],
                kind=KIND,
                subject_id=subj,
                due_at_ms=to_epoch_ms(decision.next_at),
                data={
                    "incidentId": incident["id"],
                    "userId": user_id,
                    "urgency": urgency,
                    "position": page.position,
                    "round": page.round,
                    "reason": page.reason,
                    "discriminator": page.discriminator,
                    "layerCount": layer_count,
                    "pagedAtMs": to_epoch_ms(now),
                    "steps": [[s.contact_method_id, s.delay_minutes] for s in plan],
                },
            )
            if not decision.send:
                queued.append({"userId": user_id, "ruleStepsFrom": page_queue.to_iso(decision.next_at)})
    return queued


def _stop_reason(ctx: sqlite3.Row | None, data: dict[str, Any], paged_at: datetime) -> str | None:
    if ctx is None:
        return "incident not found"
    if ctx["status"] == "resolved":
        return "incident resolved"
    acked = ctx["acknowledged_at"]
    if acked is not None and acked >= page_queue.to_iso(paged_at):
        return "incident acknowledged"
    position = data.get("position")
    if position is not None and ctx["step"] is not None:
        if ctx["state"] == "stopped" or (ctx["step"] + 1, ctx["round"]) != (position, data.get("round")):
            return "escalated away"
    return None


def fire(db: Database, now: datetime, timer: Timer) -> int | None:
    """The timer handler: write the person's steps due at ``now`` (or the next one at once after a failed
    channel), record ``notification_rule_step``; returns the next step's instant (epoch ms) or None."""
    data = timer.data
    paged_at = from_epoch_ms(int(data["pagedAtMs"]))
    plan = tuple(rules.RuleStep(str(cm), int(d)) for cm, d in data["steps"])
    ctx = queries.page_context(db, data["incidentId"])
    sent = queries.sent_through(db, timer.subject_id)
    next_step = 0 if sent is None else sent + 1
    why = _stop_reason(ctx, data, paged_at)
    if why is None and not queries.is_active(db, data["userId"]):
        why = "person removed"
    if why is not None or ctx is None:
        if ctx is not None:
            timeline.record(
                db,
                ctx["id"],
                now,
                "notification_rules_stopped",
                None,
                userId=data["userId"],
                reason=why,
                stepsSent=next_step,
                stepCount=len(plan),
            )
        return None
    if next_step >= len(plan):
        return None
    fall_through = data.get("fallThroughStep") == next_step
    decision = rules.steps_due(plan, paged_at, now, next_step, fall_through=fall_through)
    page = Page(
        data.get("position"),
        int(data.get("round") or 0),
        (data["userId"],),
        data["reason"],
        data.get("discriminator"),
    )
    for n in decision.send:
        step = plan[n]
        cm = queries.contact_method(db, step.contact_method_id)
        entry: dict[str, Any]
        if cm is None:
            entry = {
                "userId": data["userId"],
                "contactId": step.contact_method_id,
                "ruleStep": n,
                "skipped": "contact method was deleted",
            }
            deliveries = [entry]
        else:
            contact = Contact(cm["id"], cm["channel"], cm["address"], cm["secret"])
            row, entry = page_queue.build_row(
                now,
                ctx,
                page,
                data["userId"],
                contact,
                layer_count=data.get("layerCount"),
                rule=(timer.subject_id, n),
            )
            page_queue.put(db, row, entry, None)
            deliveries = [entry]
        timeline.record(
            db,
            ctx["id"],
            now,
            "notification_rule_step",
            None,
            userId=data["userId"],
            step=n,
            delayMinutes=step.delay_minutes,
            fallThrough=fall_through and n == next_step,
            layer=data.get("position"),
            deliveries=deliveries,
        )
    return None if decision.next_at is None else to_epoch_ms(decision.next_at)


def step_failed(db: Database, row: sqlite3.Row, now: datetime) -> bool:
    """Delivery gave up on ``row``: if it belongs to the latest step of a person's rules that has a next
    step, move that page's timer to ``now`` (fall-through). Returns whether it did."""
    subj = row["rule_subject"]
    if subj is None:
        return False
    timer = timers.get(db, KIND, subj)
    if timer is None or queries.sent_through(db, subj) != row["rule_step"]:
        return False
    timers.arm(
        db,
        org_id=timer.org_id,
        kind=KIND,
        subject_id=subj,
        due_at_ms=min(timer.due_at_ms, to_epoch_ms(now)),
        data={**timer.data, "fallThroughStep": row["rule_step"] + 1},
    )
    return True
