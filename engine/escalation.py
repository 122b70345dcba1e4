"""Escalation decisions: pure functions from (state, policy snapshot, now) to the next state and effects.

Nothing here reads a clock, a database or the network. The values returned (:class:`EscalationState`,
:class:`Outcome`, :class:`Event`, :class:`Page`) are in :mod:`engine.outcome`, the policy snapshot an
escalation runs on in :mod:`engine.snapshot`. Storage (:mod:`engine.runtime.escalator`) loads the row,
calls one of these functions with the injected clock's ``now`` and a ``resolve`` callback (who a target
pages at an instant), then writes the returned state, pages and events in one transaction. The same code
therefore runs on the wall clock, a scaled clock and a virtual clock, and a replayed decision gives the
same answer.

The rules (docs/ENGINE.md has the full text):

* ``begin`` pages layer 1 now and arms its timeout. A layer that resolves to nobody records
  ``nobody_on_call`` and the next layer is entered at the same instant.
* ``fire`` runs whatever is due: a layer timeout pages the next layer, and after the last layer either
  starts the next repeat loop (local extension) or records ``escalation_exhausted`` and stops. The next
  due time is computed from the *scheduled* due time, not the firing time, so lateness never accumulates
  and a late engine catches up step by step, in due order.
* ``acknowledge`` cancels the pending timeout (and arms a re-page reminder when the policy asks for one);
  ``stop`` cancels everything; both are idempotent.
* ``handoff`` pages the new owner and, while paging, restarts the current layer's timer.
* ``escalate_now`` and ``snooze`` are local extensions driven by a person.

Every change bumps ``generation``; storage writes with ``WHERE generation = ?`` so a stale decision can
never be applied. ``round`` numbers passes over the layers (a repeat loop or a manual restart from an
earlier layer); it is part of every page's idempotency key, so one layer is paged at most once per pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from engine.errors import DomainError, ValidationError
from engine.model import LONGEST_WAIT_MINUTES, EscalationLayer, Policy, Target
from engine.outcome import EscalationState, Event, Outcome, Page, evolve
from engine.snapshot import target_data
from engine.timefmt import to_iso as _to_iso

__all__ = [
    "DUE_REPAGE",
    "DUE_SNOOZE_END",
    "DUE_TIMEOUT",
    "MAX_SNOOZE_MINUTES",
    "STATES",
    "EscalationState",
    "Event",
    "Outcome",
    "Page",
    "Resolver",
    "acknowledge",
    "begin",
    "escalate_now",
    "fire",
    "handoff",
    "snooze",
    "stop",
]

STATES: tuple[str, ...] = ("paging", "acknowledged", "exhausted", "stopped", "snoozed")
DUE_TIMEOUT = "timeout"
DUE_REPAGE = "repage"
DUE_SNOOZE_END = "snooze_end"
MAX_SNOOZE_MINUTES = LONGEST_WAIT_MINUTES

to_iso = lru_cache(maxsize=1024)(_to_iso)  # pure; steps due together format the same instants


@lru_cache(maxsize=256)
def _minutes(minutes: int) -> timedelta:
    """``timedelta(minutes=m)``, cached: a policy has a handful of timeouts and building one is slow."""
    return timedelta(minutes=minutes)


Resolver = Callable[[Target, datetime], tuple[str, ...]]
"""Who a target pages at an instant: a schedule's paging targets, or the listed users still in the org."""


def _ms(delta: timedelta) -> int:
    return int(round(delta.total_seconds() * 1000))


def _nobody(step: int, loop: int, layer: EscalationLayer) -> Event:
    """Layer ``step`` (0-based) resolved to nobody: recorded, and nobody is paged."""
    return Event("nobody_on_call", {"position": step + 1, "loop": loop, "target": target_data(layer.target)})


# Event data that formats instants, built on first access (see Event). Same keys, same order as ever.


def _paged_data(
    position: int, layer_count: int, loop: int, users: tuple[str, ...], reason: str, due: datetime | None
) -> dict[str, Any]:
    return {
        "position": position,
        "layerCount": layer_count,
        "loop": loop,
        "userIds": list(users),
        "reason": reason,
        "timeoutAt": to_iso(due) if due else None,
    }


def _late_data(head: dict[str, Any], due: datetime, now: datetime) -> dict[str, Any]:
    return {**head, "dueAt": to_iso(due), "lateMs": max(0, _ms(now - due))}


def _timeout_data(position: int, loop: int, due: datetime, now: datetime) -> dict[str, Any]:
    return _late_data({"position": position, "loop": loop}, due, now)


def _ack_data(old: EscalationState, new: EscalationState) -> dict[str, Any]:
    """``escalation_acknowledged``: what was pending (``old``) and the reminder armed (``new``)."""
    return {
        "position": old.step + 1,
        "loop": old.loop,
        "by": new.acked_by,
        "cancelledDueAt": to_iso(old.due_at) if old.due_at else None,
        "cancelledKind": old.due_kind,
        "repageAt": to_iso(new.due_at) if new.due_at else None,
    }


def _entered_data(state: EscalationState, layer_count: int, users: tuple[str, ...]) -> dict[str, Any]:
    """``layer_paged`` for the layer an escalation has just entered (``state``: paging it, timer armed)."""
    return _paged_data(state.step + 1, layer_count, state.loop, users, "escalation", state.due_at)


def _enter(
    plan: Policy,
    step: int,
    loop: int,
    rnd: int,
    base: datetime,
    now: datetime,
    reason: str,
    resolve: Resolver,
    generation: int,
    acked_by: str | None,
    head: tuple[Event, ...],
    known: tuple[str, ...] | None = None,
) -> Outcome:
    """Page layer ``step`` (wrapping into the next repeat loop, skipping layers that resolve to nobody),
    after the events ``head`` of the decision that leads here. ``known`` is who layer ``step`` resolves
    to at ``now`` when the caller has asked already (``begin`` and ``fire`` write the common case out
    and come here for the rest), so a target is resolved once per decision.

    The layer's timeout is armed from ``base``: the scheduled due time of the step that led here, so a
    late engine does not push the rest of the escalation later.
    """
    layers = plan.layers
    n = len(layers)
    skipped: list[Event] | None = None  # only when layers are skipped, loops repeat or the policy ends
    while True:
        if step >= n:
            if skipped is None:
                skipped = []
            if n and loop < plan.repeat:
                loop, rnd, step = loop + 1, rnd + 1, 0
                skipped.append(Event("escalation_repeated", {"loop": loop, "loops": plan.repeat + 1}))
            else:
                skipped.append(
                    Event("escalation_exhausted", {"layerCount": n, "loop": loop, "loops": plan.repeat + 1})
                )
                last = max(0, n - 1)
                state = EscalationState(last, loop, generation, "exhausted", None, None, rnd, acked_by)
                return Outcome(state, (*head, *skipped))
        layer = layers[step]
        if known is None:
            users = resolve(layer.target, now)
        else:
            users, known = known, None
        if not users:
            if skipped is None:
                skipped = []
            skipped.append(_nobody(step, loop, layer))
            step += 1
            continue
        due = base + layer.ack_timeout
        position = step + 1
        paged = Event(
            "layer_paged",
            (_paged_data, position, n, loop, users, reason, due),
            Page(position, rnd, users, reason),
        )
        state = EscalationState(step, loop, generation, "paging", due, DUE_TIMEOUT, rnd, acked_by)
        if skipped is None:  # the common case: the layer pages someone
            return Outcome(state, head + (paged,))
        return Outcome(state, (*head, *skipped, paged))


@lru_cache(maxsize=1024)
def _begun(policy_id: str, layer_count: int) -> tuple[Event]:
    """``begin``'s first events: ``escalation_started``, a value that depends only on the policy, shared."""
    return (Event("escalation_started", {"policyId": policy_id, "layerCount": layer_count}),)


def begin(plan: Policy, now: datetime, resolve: Resolver) -> Outcome:
    """An escalation starts: layer 1 is paged at ``now``."""
    layers = plan.layers
    n = len(layers)
    head = _begun(plan.id, n)
    if not n:
        return _enter(plan, 0, 0, 0, now, now, "escalation", resolve, 1, None, head)
    layer = layers[0]
    users = resolve(layer.target, now)
    if not users:
        return _enter(plan, 0, 0, 0, now, now, "escalation", resolve, 1, None, head, users)
    # The common case, _enter's first pass written out (a call less: the simulator decides 100,000s).
    new = EscalationState(0, 0, 1, "paging", now + layer.ack_timeout, DUE_TIMEOUT, 0, None)
    paged = Event("layer_paged", (_entered_data, new, n, users), Page(1, 0, users, "escalation"))
    return Outcome(new, head + (paged,))


def _layer(plan: Policy, step: int) -> EscalationLayer | None:
    return plan.layers[step] if 0 <= step < len(plan.layers) else None


def fire(state: EscalationState, plan: Policy, now: datetime, resolve: Resolver) -> Outcome:
    """Run the step due at ``state.due_at`` (nothing if it is not due yet). The lateness is recorded."""
    due = state.due_at
    if due is None or due > now:
        return Outcome(state)
    gen = state.generation + 1
    pos = state.step + 1
    if state.due_kind == DUE_TIMEOUT and state.state == "paging":
        loop, rnd, by, layers = state.loop, state.round, state.acked_by, plan.layers
        timeout = Event("escalation_timeout", (_timeout_data, pos, loop, due, now))
        if pos >= len(layers):
            return _enter(plan, pos, loop, rnd, due, now, "escalation", resolve, gen, by, (timeout,))
        nxt_layer = layers[pos]
        paging = resolve(nxt_layer.target, now)
        if not paging:
            return _enter(plan, pos, loop, rnd, due, now, "escalation", resolve, gen, by, (timeout,), paging)
        # The common case, _enter's first pass written out: the next layer pages someone.
        new = EscalationState(pos, loop, gen, "paging", due + nxt_layer.ack_timeout, DUE_TIMEOUT, rnd, by)
        paged = Event(
            "layer_paged", (_entered_data, new, len(layers), paging), Page(pos + 1, rnd, paging, "escalation")
        )
        return Outcome(new, (timeout, paged))
    if state.due_kind == DUE_REPAGE and state.state == "acknowledged":
        layer = _layer(plan, state.step)
        # The acknowledger, while still a member; otherwise (no acknowledger recorded, or they were
        # removed since) whoever the current layer pages now, so a removed person is never paged.
        users: tuple[str, ...] = ()
        if state.acked_by:
            users = resolve(Target(type="users", user_ids=(state.acked_by,)), now)
        if not users:
            users = resolve(layer.target, now) if layer else ()
        nxt = due + _minutes(plan.repage_after_minutes) if plan.repage_after_minutes else None
        page = Page(pos, state.round, users, "repage", f"r{gen}") if users else None
        head = {"position": pos, "userIds": list(users), "nextRepageAt": to_iso(nxt) if nxt else None}
        repaged = Event("incident_repaged", (_late_data, head, due, now), page)
        new = evolve(state, generation=gen, due_at=nxt, due_kind=DUE_REPAGE if nxt else None)
        return Outcome(new, (repaged,))
    if state.due_kind == DUE_SNOOZE_END and state.state == "snoozed":
        ended = Event("snooze_ended", (_late_data, {"position": pos, "loop": state.loop}, due, now))
        return _repage_current(
            plan, state, gen, (ended,), base=due, now=now, resolve=resolve, reason="snooze_end"
        )
    # A due time that no longer matches the state (should not happen): clear it, loudly.
    head = {"dueKind": state.due_kind, "state": state.state}
    discarded = Event("escalation_due_discarded", (_late_data, head, due, now))
    return Outcome(evolve(state, generation=gen, due_at=None, due_kind=None), (discarded,))


def _repage_current(
    plan: Policy,
    state: EscalationState,
    gen: int,
    head: tuple[Event, ...],
    *,
    base: datetime,
    now: datetime,
    resolve: Resolver,
    reason: str,
) -> Outcome:
    """Page the current layer again (a re-page, so with a discriminator) and restart its timer."""
    layer = _layer(plan, state.step)
    users = resolve(layer.target, now) if layer else ()
    if layer is None or not users:
        if layer is not None:
            head = (*head, _nobody(state.step, state.loop, layer))
        nxt = state.step + 1
        return _enter(
            plan, nxt, state.loop, state.round, base, now, "escalation", resolve, gen, state.acked_by, head
        )
    due = base + layer.ack_timeout
    page = Page(state.step + 1, state.round, users, reason, f"{reason[0]}{gen}")
    data = (_paged_data, state.step + 1, len(plan.layers), state.loop, users, reason, due)
    new = evolve(state, generation=gen, state="paging", due_at=due, due_kind=DUE_TIMEOUT)
    return Outcome(new, (*head, Event("layer_paged", data, page)))


def _cancelled(state: EscalationState) -> dict[str, Any]:
    return {"cancelledDueAt": to_iso(state.due_at) if state.due_at else None, "cancelledKind": state.due_kind}


def acknowledge(state: EscalationState, plan: Policy, now: datetime, user_id: str | None) -> Outcome:
    """Cancel the pending timeout. Idempotent: a second ack, or an ack after stop, changes nothing."""
    st = state.state
    if st == "acknowledged" or st == "stopped":
        return Outcome(state)
    minutes = plan.repage_after_minutes
    gen, by = state.generation + 1, user_id or None
    if minutes:
        repage = now + _minutes(minutes)
        new = EscalationState(
            state.step, state.loop, gen, "acknowledged", repage, DUE_REPAGE, state.round, by
        )
    else:
        new = EscalationState(state.step, state.loop, gen, "acknowledged", None, None, state.round, by)
    return Outcome(new, (Event("escalation_acknowledged", (_ack_data, state, new)),))


def stop(state: EscalationState, now: datetime) -> Outcome:
    """The incident is resolved: nothing more is ever paged. Idempotent."""
    if state.state == "stopped":
        return Outcome(state)
    new = evolve(state, generation=state.generation + 1, state="stopped", due_at=None, due_kind=None)
    return Outcome(new, (Event("escalation_stopped", {"position": state.step + 1, **_cancelled(state)}),))


def handoff(state: EscalationState, plan: Policy, now: datetime, target_user_id: str) -> Outcome:
    """Page the new owner now; while paging, the current layer's timer restarts from ``now``.

    In any other state (acknowledged, snoozed, exhausted) the target is paged and nothing else changes.
    """
    gen = state.generation + 1
    page = Page(state.step + 1, state.round, (target_user_id,), "handoff", f"h{gen}")
    events = [Event("handoff_paged", {"position": state.step + 1, "userIds": [target_user_id]}, page)]
    layer = _layer(plan, state.step)
    if state.state == "paging" and layer is not None:
        due = now + layer.ack_timeout
        events.append(
            Event("escalation_timer_restarted", {"position": state.step + 1, "timeoutAt": to_iso(due)})
        )
        return Outcome(evolve(state, generation=gen, due_at=due, due_kind=DUE_TIMEOUT), tuple(events))
    return Outcome(evolve(state, generation=gen), tuple(events))


def escalate_now(
    state: EscalationState,
    plan: Policy,
    now: datetime,
    to_position: int | None,
    resolve: Resolver,
) -> Outcome:
    """Local extension: page the next layer, or layer ``to_position``, now.

    * Paging or exhausted: the escalation moves there and that layer's timer starts from ``now``. Layers
      jumped over are recorded as ``layer_skipped``; going back to an earlier (or the same) layer starts a
      new round, so the layers after it are paged again rather than silently swallowed as duplicates.
    * Acknowledged or snoozed: the layer is paged and the escalation moves to it (so the layer shown is
      the one paged, and escalating again reaches the next one, up to the last); the state is kept (the
      ack stands; nothing is armed).

    Raises 400 ``invalid_layer`` for a position outside 1..n and ``not_escalating`` when there is nothing
    to escalate to (stopped, or already past the last layer with no repeat left).
    """
    n = len(plan.layers)
    if state.state == "stopped" or n == 0:
        raise DomainError("not_escalating", "this incident is not escalating")
    if to_position is not None and not (
        isinstance(to_position, int) and not isinstance(to_position, bool) and 1 <= to_position <= n
    ):
        raise DomainError("invalid_layer", f"layer must be between 1 and {n}")
    gen = state.generation + 1
    if to_position is None:
        if state.step + 1 >= n and state.loop >= plan.repeat:
            raise DomainError("not_escalating", "already at the last layer; there is no next layer")
        target_step = state.step + 1
    else:
        target_step = to_position - 1
    events: list[Event] = [
        Event("escalated_manually", {"fromPosition": state.step + 1, "toPosition": target_step % n + 1})
    ]
    if state.state in ("acknowledged", "snoozed"):
        step = target_step if target_step < n else 0
        loop = state.loop + (1 if target_step >= n else 0)
        moved = EscalationState(
            step, loop, gen, state.state, state.due_at, state.due_kind, state.round, state.acked_by
        )
        layer = plan.layers[step]
        users = resolve(layer.target, now)
        if not users:
            events.append(_nobody(step, loop, layer))
            return Outcome(moved, tuple(events))
        page = Page(step + 1, state.round, users, "escalate_now", f"x{gen}")
        data = (_paged_data, step + 1, n, loop, users, "escalate_now", None)
        events.append(Event("layer_paged", data, page))
        return Outcome(moved, tuple(events))
    rnd, loop = state.round, state.loop
    already_paged = state.state == "exhausted" or target_step <= state.step
    if target_step >= n:  # next layer wraps into the next repeat loop (handled by _enter)
        pass
    elif already_paged:
        rnd += 1
    else:
        for skipped in range(state.step + 1, target_step):
            events.append(
                Event("layer_skipped", {"position": skipped + 1, "loop": loop, "reason": "escalate_now"})
            )
    return _enter(
        plan, target_step, loop, rnd, now, now, "escalate_now", resolve, gen, state.acked_by, tuple(events)
    )


def snooze(state: EscalationState, plan: Policy, now: datetime, minutes: int) -> Outcome:
    """Local extension: hold a paging escalation for ``minutes``; at the end the current layer is paged
    again and its timer restarts. Snoozing again extends from ``now``."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        raise ValidationError(f"minutes must be between 1 and {MAX_SNOOZE_MINUTES}", field="minutes")
    if state.state not in ("paging", "snoozed"):
        raise DomainError(
            "not_escalating", f"the escalation is {state.state}; only a paging escalation can be snoozed"
        )
    until = now + timedelta(minutes=minutes)
    new = evolve(
        state, generation=state.generation + 1, state="snoozed", due_at=until, due_kind=DUE_SNOOZE_END
    )
    data = {"position": state.step + 1, "minutes": minutes, "until": to_iso(until), **_cancelled(state)}
    return Outcome(new, (Event("escalation_snoozed", data),))
