"""Escalations in SQLite: the rows are the truth, a timer only wakes :func:`tick`.

Each incident under escalation has one ``escalations`` row: its current layer (``step``), repeat
``loop``, pass ``round``, ``state``, ``generation`` and the next ``due_at_ms`` with its ``due_kind``.
Every function here runs inside one write transaction (``BEGIN IMMEDIATE``, or a savepoint inside the
caller's, e.g. the incident service's): it loads the row, asks the pure engine
(:mod:`engine.escalation`) what to do at ``now``, and writes the new row
(``WHERE generation = ?``), the page queue rows and the timeline events together (one helper,
:func:`_advance`, for every person-driven step; :func:`tick` for the timers). A crash therefore leaves either all of a step or none of
it, and a stale or duplicate wake finds nothing due.

Policy edits during an escalation: the layers are **snapshotted when the escalation starts** and the
escalation runs on the snapshot to the end. Editing, reordering or deleting the live policy never
re-pages a layer or skips one; the first time a step fires after the live policy diverged, the timeline
records ``escalation_policy_changed`` so people can see that the running escalation uses the old layers.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from engine import escalation as esc
from engine import ids, snapshot
from engine.clock import Clock, VirtualClock
from engine.errors import DomainError, NotFound
from engine.model import Membership, Policy, Schedule, Target
from engine.runtime import page_queue, rule_steps
from engine.runtime.page_queue import to_iso
from engine.timefmt import from_epoch_ms, to_epoch_ms, to_iso_opt
from storage import db_clock, timeline
from storage.db import Database

if TYPE_CHECKING:
    import logging
from storage.queries import escalations as escalation_rows
from storage.queries import incidents as incident_queries
from storage.queries import orgs as org_queries
from storage.queries.policies import load_policy_model, policy_shape
from storage.queries.schedules import load_schedule_model

__all__ = [
    "EngineCache",
    "acknowledge",
    "drive",
    "escalate_now",
    "escalation_state",
    "escalation_states",
    "handoff",
    "next_due",
    "snooze",
    "start",
    "stop",
    "tick",
]

DEFAULT_BATCH = 500


def _log() -> logging.Logger:
    """The engine's logger (``logging`` imported on first use: a command's start-up does without it)."""
    import logging

    return logging.getLogger("oncall.engine")


_json = msgspec.json.Encoder()


class EngineCache:
    """What one engine process keeps between transactions, keyed so that it can never be stale: the parsed
    policy snapshots (by the snapshot's text, which never changes for an escalation) and the live policies'
    fingerprints for the drift check (by :func:`storage.queries.policies.policy_shape`, every column that
    changes how a policy escalates, read in one indexed query). Bounded: cleared past ``limit`` entries.

    The people side (who is a member, each person's contact methods and notification rules, the schedules)
    is kept while the file's ``PRAGMA data_version`` stays the same, i.e. while no other connection has
    committed anything (the engine's own transactions never change those tables): :meth:`refresh`, called
    inside each tick's transaction, drops it as soon as another process wrote.
    """

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self.plans: dict[str, Policy] = {}
        self.snapshots: dict[str, tuple[str, str]] = {}
        self.fingerprints: dict[tuple[str, str], str] = {}
        self.version: int | None = None
        self.members: Membership | None = None
        self.schedules: dict[str, Schedule | None] = {}
        self.contacts: dict[str, list[page_queue.Contact]] = {}
        self.rules: rule_steps.RulesCache = {}

    def refresh(self, db: Database) -> None:
        """Inside a write transaction: forget the people side if another connection committed since."""
        version = db.data_version()
        if version != self.version or len(self.contacts) + len(self.schedules) > self.limit:
            self.version = version
            self.members = None
            self.schedules = {}
            self.contacts = {}
            self.rules = {}

    def lend(self, tx: _Tx) -> None:
        """Give ``tx`` the people side kept so far (it fills the same dicts)."""
        tx._members = self.members
        tx.schedules = self.schedules
        tx.contacts = self.contacts
        tx.rules = self.rules

    def keep(self, tx: _Tx) -> None:
        """Keep what ``tx`` read of the people side (the members, read at most once per version)."""
        self.members = tx._members

    def plan(self, stored: str) -> Policy:
        plan = self.plans.get(stored)
        if plan is None:
            if len(self.plans) >= self.limit:
                self.plans.clear()
            plan = self.plans[stored] = snapshot.policy_from_json(json.loads(stored))
        return plan

    def lend_snapshots(self, tx: _Tx) -> None:
        """Give ``tx`` the snapshots kept so far by hash (a snapshot's content never changes)."""
        if len(self.snapshots) >= self.limit:
            self.snapshots.clear()
        tx.snapshots = self.snapshots

    def live_hash(self, db: Database, policy_id: str) -> str | None:
        """The live policy's fingerprint, or None when it was deleted."""
        shape = policy_shape(db, policy_id)
        if shape is None:
            return None
        key = (policy_id, shape)
        found = self.fingerprints.get(key)
        if found is None:
            if len(self.fingerprints) >= self.limit:
                self.fingerprints.clear()
            try:
                found = snapshot.policy_fingerprint(load_policy_model(db, policy_id))
            except NotFound:
                return None
            self.fingerprints[key] = found
        return found


@dataclass
class _Tx:
    """Caches for one transaction: snapshots, schedules, users, contact methods, incidents."""

    db: Database
    cache: EngineCache | None = None
    plans: dict[str, Policy] = field(default_factory=dict)
    snapshots: dict[str, tuple[str, str]] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)
    resolved: dict[tuple[Target, datetime], Any] = field(default_factory=dict)
    schedules: dict[str, Schedule | None] = field(default_factory=dict)
    _members: Membership | None = None
    contacts: dict[str, list[page_queue.Contact]] = field(default_factory=dict)
    rules: rule_steps.RulesCache = field(default_factory=dict)
    live: dict[str, str | None] = field(default_factory=dict)
    noted: dict[str, str] = field(default_factory=dict)
    resolve_errors: dict[str, str] = field(default_factory=dict)
    removed_notes: dict[Target, tuple[str, ...]] = field(default_factory=dict)
    batched: bool = False
    _rows: list[tuple[str, str, str, str, str | None, str]] = field(default_factory=list)
    outbox_rows: list[page_queue.OutboxRow] = field(default_factory=list)
    saves: dict[str, escalation_rows.StateRow] = field(default_factory=dict)
    _stamp: tuple[datetime, str, str] | None = None

    def record(
        self, incident_id: str, at: datetime, kind: str, actor: str | None, data: dict[str, Any]
    ) -> None:
        """Append a timeline event (the same row :func:`storage.timeline.record` writes). In a batched
        transaction (``tick``) rows are buffered and written by :meth:`flush`, in order, before commit."""
        if not self.batched:
            timeline.record(self.db, incident_id, at, kind, actor, **data)
            return
        if self._stamp is None or self._stamp[0] != at:
            self._stamp = (at, to_iso(at), ids.id_head("evt", at))
        _, at_iso, head = self._stamp
        body = _json.encode(data).decode()
        self._rows.append((head, incident_id, at_iso, kind, actor, body))  # the id's tail comes at flush

    def mark(self) -> tuple[int, int]:
        return len(self._rows), len(self.outbox_rows)

    def rewind(self, mark: tuple[int, int]) -> None:
        """Drop what was buffered since ``mark`` (a step that failed half-way; its state is saved only
        once it succeeded, so there is none to drop)."""
        del self._rows[mark[0] :]
        del self.outbox_rows[mark[1] :]

    def save(
        self,
        incident_id: str,
        expected_generation: int,
        s: esc.EscalationState,
        now: datetime,
        due_ms: int | None = None,
    ) -> None:
        """:func:`_save` of a batched transaction: buffered, written by :meth:`flush` in one executemany.
        ``due_ms`` is ``s.due_at`` in epoch ms when the caller has it already. An incident that fires
        again in the same tick keeps one row: its last state, under the generation it was claimed at
        (one transaction: the same result as writing the chain)."""
        if due_ms is None and s.due_at is not None:
            due_ms = to_epoch_ms(s.due_at)
        first = self.saves.get(incident_id)
        if first is not None:
            expected_generation = first[10]
        self.saves[incident_id] = (
            s.step,
            s.loop,
            s.round,
            s.generation,
            s.state,
            due_ms,
            s.due_kind,
            s.acked_by,
            to_iso(now),
            incident_id,
            expected_generation,
        )

    def flush(self) -> None:
        """Write the buffered escalation states, outbox rows, then timeline events, in order."""
        if self.saves:
            saved = escalation_rows.save_states(self.db, list(self.saves.values()), self.claimed)
            if saved != len(self.saves):  # cannot happen inside one BEGIN IMMEDIATE transaction
                raise DomainError("stale_escalation", "an escalation changed underneath this tick")
            self.saves.clear()
        for dup in page_queue.insert_batch(self.db, self.outbox_rows):
            self.record(
                dup[2], from_epoch_ms(dup[11]), "page_duplicate_ignored", None, {"idempotencyKey": dup[0]}
            )
        self.outbox_rows.clear()
        if self._rows:
            latest = self.latest  # read by the claim (``latest_at``) for every incident of the tick
            unread = {r[1] for r in self._rows if r[1] not in latest}
            if unread:
                latest.update(timeline.latest_at(self.db, unread))
            tails = ids.random_tails(len(self._rows), os.urandom)
            rows = [
                (r[0] + tail, r[1], r[2] if r[2] >= latest.get(r[1], "") else latest[r[1]], r[3], r[4], r[5])
                for r, tail in zip(self._rows, tails, strict=True)
            ]
            timeline.insert_rows(self.db, rows)
            self._rows.clear()

    def plan(self, stored: str) -> Policy:
        """The policy snapshot an escalation runs on, parsed once per transaction (or once per engine
        process with an :class:`EngineCache`)."""
        if self.cache is not None:
            return self.cache.plan(stored)
        plan = self.plans.get(stored)
        if plan is None:
            plan = self.plans[stored] = snapshot.policy_from_json(json.loads(stored))
        return plan

    def snapshots_of(self, hashes: set[str]) -> dict[str, tuple[str, str]]:
        """``{snapshot hash: (the snapshot's JSON text, the policy's fingerprint when it started)}`` for
        ``hashes``: kept by hash for the transaction (for the engine process with an
        :class:`EngineCache`); the texts not kept yet are read in one query. Parse a text with
        :meth:`plan` (kept too), where a snapshot this version cannot read fails only its own steps."""
        if self.cache is not None:
            self.cache.lend_snapshots(self)
        known = self.snapshots
        missing = [h for h in hashes if h not in known]
        if missing:
            known.update(escalation_rows.snapshots(self.db, missing))
        return known

    def _schedule(self, schedule_id: str) -> Schedule | None:
        if schedule_id not in self.schedules:
            try:
                self.schedules[schedule_id] = load_schedule_model(self.db, schedule_id)
            except NotFound:
                self.schedules[schedule_id] = None
        return self.schedules[schedule_id]

    @property
    def members(self) -> Membership:
        """Everyone who may be paged: the current members of every organisation in the file, read once
        per transaction. A removed user is never a member here, whatever instant is asked about: the
        engine only pages at its ``now``, and a removal already recorded is behind it (rule 8 of
        docs/TIME_RULES.md)."""
        if self._members is None:
            self._members = Membership(org_queries.current_member_ids(self.db))
        return self._members

    def resolve(self, target: Target, at: datetime) -> tuple[str, ...]:
        """Who the target pages at ``at`` (:func:`engine.rotation.resolve_target`): resolved at the
        moment of paging, members only, no repeats.

        A schedule that cannot be resolved (deleted, or data this version cannot read) pages nobody; the
        reason is kept in ``resolve_errors`` and lands on the ``nobody_on_call`` event, so one bad
        schedule never stalls the engine for every other incident. The removed users the target would
        otherwise have paged are kept in ``removed_notes`` for the same event.
        """
        key = (target, at)
        found = self.resolved.get(key)
        if found is None:
            found = self.resolved[key] = self._resolution(target, at)
        if found.removed:
            self.removed_notes[target] = found.removed
        else:
            self.removed_notes.pop(target, None)
        return found.user_ids  # type: ignore[no-any-return]

    def _resolution(self, target: Target, at: datetime) -> Any:
        """:func:`engine.rotation.resolve_target` of ``target`` at ``at`` (what :meth:`resolve` keeps: the
        same target at the same instant resolves the same way within one transaction, which is what a
        tick of hundreds of steps on the same layers asks for again and again)."""
        from engine import rotation  # loaded when something pages, not by every command that imports us

        sched: Schedule | None = None
        if target.type == "schedule":
            sid = target.schedule_id or ""
            try:
                sched = self._schedule(sid)
                found = rotation.resolve_target(target, sched, at, self.members)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded, never fatal
                _log().warning("schedule %s could not be resolved: %r", sid, exc)
                self.resolve_errors[sid] = f"{type(exc).__name__}: {exc}"[:300]
                found = rotation.TargetResolution(())
            if sched is None and sid not in self.resolve_errors:
                self.resolve_errors[sid] = "schedule not found"
        else:
            found = rotation.resolve_target(target, None, at, self.members)
        return found

    def live_hash(self, policy_id: str) -> str | None:
        if policy_id not in self.live and self.cache is not None:
            self.live[policy_id] = self.cache.live_hash(self.db, policy_id)
        if policy_id not in self.live:
            try:
                self.live[policy_id] = snapshot.policy_fingerprint(load_policy_model(self.db, policy_id))
            except NotFound:
                self.live[policy_id] = None
        return self.live[policy_id]


def _state(row: sqlite3.Row) -> esc.EscalationState:
    due = row["due_at_ms"]
    return esc.EscalationState(
        step=row["step"],
        loop=row["loop"],
        generation=row["generation"],
        state=row["state"],
        due_at=None if due is None else from_epoch_ms(due),
        due_kind=row["due_kind"],
        round=row["round"],
        acked_by=row["acked_by"],
    )


def _save(
    db: Database, incident_id: str, expected_generation: int, s: esc.EscalationState, now: datetime
) -> None:
    saved = escalation_rows.save_state(
        db,
        incident_id,
        expected_generation,
        step=s.step,
        loop=s.loop,
        round=s.round,
        generation=s.generation,
        state=s.state,
        due_at_ms=None if s.due_at is None else to_epoch_ms(s.due_at),
        due_kind=s.due_kind,
        acked_by=s.acked_by,
        updated_at=to_iso(now),
    )
    if not saved:  # cannot happen inside one BEGIN IMMEDIATE transaction; refuse rather than fork
        raise DomainError("stale_escalation", f"escalation of {incident_id} changed underneath this step")


def _incident(db: Database, incident_id: str) -> sqlite3.Row | None:
    return incident_queries.incident_head(db, incident_id)


def _target_of(data: dict[str, Any]) -> Target:
    """The :class:`Target` a ``nobody_on_call`` event's ``target`` data describes."""
    if data.get("type") == "schedule":
        return Target(type="schedule", schedule_id=data.get("scheduleId"))
    return Target(type="users", user_ids=tuple(data.get("userIds") or ()))


def _apply(
    tx: _Tx,
    incident: sqlite3.Row | dict[str, Any],
    now: datetime,
    outcome: esc.Outcome,
    actor: str | None,
    layer_count: int | None,
) -> None:
    for event in outcome.events:
        data = event.data  # copied before anything is added: an event's data may be shared
        if event.kind == "nobody_on_call":
            data = dict(data)
            error = tx.resolve_errors.get(data.get("target", {}).get("scheduleId") or "")
            if error:
                data["error"] = error
            removed = tx.removed_notes.get(_target_of(data.get("target", {})), ())
            if removed:
                data["removedUserIds"] = list(removed)
        if event.page is not None:
            data = {**data}
            data["deliveries"] = rule_steps.enqueue(
                tx.db,
                now,
                incident,
                event.page,
                layer_count=layer_count,
                cache=tx.contacts,
                rules_cache=tx.rules,
                sink=tx.outbox_rows if tx.batched else None,
            )
        tx.record(incident["id"], now, event.kind, actor, data)


# -- lifecycle ------------------------------------------------------------------------------------


def start(db: Database, now: datetime, incident_id: str) -> None:
    """Snapshot the incident's policy, page layer 1 at ``now`` and arm its timeout. Idempotent."""
    with db.write():
        inc = _incident(db, incident_id)
        if inc is None or not inc["escalation_policy_id"] or inc["status"] == "resolved":
            return
        if escalation_rows.has_escalation(db, incident_id):
            return
        try:
            plan = load_policy_model(db, inc["escalation_policy_id"])
        except NotFound:
            return
        tx = _Tx(db)
        outcome = esc.begin(plan, now, tx.resolve)
        s = outcome.state
        escalation_rows.insert_escalation(
            db,
            {
                "incident_id": incident_id,
                "org_id": inc["org_id"],
                "policy_id": plan.id,
                "policy_snapshot": json.dumps(snapshot.policy_to_json(plan), separators=(",", ":")),
                "policy_hash": snapshot.policy_fingerprint(plan),
                "step": s.step,
                "loop": s.loop,
                "round": s.round,
                "generation": s.generation,
                "state": s.state,
                "due_at_ms": None if s.due_at is None else to_epoch_ms(s.due_at),
                "due_kind": s.due_kind,
                "acked_by": s.acked_by,
                "started_at": to_iso(now),
                "updated_at": to_iso(now),
            },
        )
        _apply(tx, inc, now, outcome, None, len(plan.layers))


class _Decision:
    """What a person's action asks of the pure rules, given the escalation's state and its snapshot.

    ``plan()`` parses the snapshot on first use; ``layer_count`` is its number of layers once parsed
    (None when the decision did not need the snapshot, as for ``stop``).
    """

    def __init__(self, tx: _Tx, row: sqlite3.Row) -> None:
        self.tx = tx
        self.state = _state(row)
        self._stored = str(row["policy_snapshot"])
        self._plan: Policy | None = None

    def plan(self) -> Policy:
        if self._plan is None:
            self._plan = self.tx.plan(self._stored)
        return self._plan

    @property
    def layer_count(self) -> int | None:
        return None if self._plan is None else len(self._plan.layers)


_NOT_ESCALATING = "this incident has no escalation policy"


def _advance(
    db: Database,
    now: datetime,
    incident_id: str,
    actor: str | None,
    decide: Callable[[_Decision], esc.Outcome],
    *,
    required: bool = False,
    without_escalation: Callable[[_Tx, sqlite3.Row], None] | None = None,
) -> None:
    """Load → decide → save, in one write transaction: the one shape of every person-driven step.

    Loads the incident and its escalation row, asks ``decide`` (a pure rule of :mod:`engine.escalation`)
    for the outcome at ``now``, and, when the outcome changed the escalation (a new ``generation``), writes
    the row (``WHERE generation = ?``), the page queue rows and the timeline events attributed to
    ``actor``. An incident without an escalation gets ``without_escalation`` if given; otherwise nothing
    happens, or 400 ``not_escalating`` is raised when ``required``.
    """
    with db.write():
        inc = _incident(db, incident_id)
        row = None if inc is None else escalation_rows.escalation_row(db, incident_id)
        if inc is not None and row is None and without_escalation is not None:
            without_escalation(_Tx(db), inc)
            return
        if inc is None or row is None:
            if required:
                raise DomainError("not_escalating", _NOT_ESCALATING)
            return
        decision = _Decision(_Tx(db), row)
        outcome = decide(decision)
        if outcome.state.generation == row["generation"]:
            return  # nothing changed: acknowledged or stopped already
        _save(db, incident_id, row["generation"], outcome.state, now)
        _apply(decision.tx, inc, now, outcome, actor, decision.layer_count)


def acknowledge(db: Database, now: datetime, incident_id: str, user_id: str | None) -> None:
    """Cancel the pending timeout; arm the re-page reminder if the policy has one. Idempotent; a no-op
    once stopped (resolved)."""
    _advance(db, now, incident_id, user_id, lambda d: esc.acknowledge(d.state, d.plan(), now, user_id))


def stop(db: Database, now: datetime, incident_id: str) -> None:
    """The incident is resolved: cancel everything still pending. Idempotent."""
    _advance(db, now, incident_id, None, lambda d: esc.stop(d.state, now))


def handoff(db: Database, now: datetime, incident_id: str, target_user_id: str, actor_id: str | None) -> None:
    """Page the new owner now and restart the current layer's timer (while paging).

    Works without an escalation too (handoff is also "change owner"): the target is paged all the same.
    """

    def page_the_new_owner(tx: _Tx, inc: sqlite3.Row) -> None:
        n = timeline.count_of_kind(tx.db, incident_id, "handoff_paged")
        page = esc.Page(None, 0, (target_user_id,), "handoff", f"h0.{n + 1}")
        event = esc.Event("handoff_paged", {"position": None, "userIds": [target_user_id]}, page)
        outcome = esc.Outcome(esc.EscalationState(0, 0, 0, "stopped"), (event,))
        _apply(tx, inc, now, outcome, actor_id, None)

    _advance(
        db,
        now,
        incident_id,
        actor_id,
        lambda d: esc.handoff(d.state, d.plan(), now, target_user_id),
        without_escalation=page_the_new_owner,
    )


def escalate_now(
    db: Database, now: datetime, incident_id: str, to_position: int | None, actor_id: str | None
) -> None:
    """Local extension: page the next layer (or layer ``to_position``) now.

    400 ``invalid_layer`` for a position outside the policy, ``not_escalating`` when nothing escalates.
    """
    _advance(
        db,
        now,
        incident_id,
        actor_id,
        lambda d: esc.escalate_now(d.state, d.plan(), now, to_position, d.tx.resolve),
        required=True,
    )


def snooze(db: Database, now: datetime, incident_id: str, minutes: int, actor_id: str | None) -> None:
    """Local extension: hold a paging escalation for ``minutes``; then the current layer is paged again."""
    _advance(
        db,
        now,
        incident_id,
        actor_id,
        lambda d: esc.snooze(d.state, d.plan(), now, minutes),
        required=True,
    )


# -- the timer side -------------------------------------------------------------------------------


def tick(
    db: Database,
    at: datetime | Clock,
    limit: int = DEFAULT_BATCH,
    *,
    fence: Any = None,
    fired: list[tuple[str, int]] | None = None,
    cache: EngineCache | None = None,
) -> int:
    """Fire every step due at ``now`` (at most ``limit``), in due order, in one transaction.

    ``at`` is a :class:`Clock` (the live engine: ``now`` is read once ``BEGIN IMMEDIATE`` holds the write
    lock, so a step committed after another process's write is never stamped before it), or an instant
    chosen by a driver that owns the time (a virtual clock in drills and tests).

    Returns how many steps fired; call again while it returns ``limit``. A step that becomes due again
    within the same catch-up (an engine that was down across several timeouts) fires in the same call,
    still in due order. ``fence`` (a :class:`storage.lease.Fence`) makes the transaction a no-op unless
    that lease is still held. ``fired`` collects ``(incident_id, due_at_ms)`` for measurements. ``cache``
    (an :class:`EngineCache`, the runner's) keeps parsed snapshots and drift fingerprints across calls.

    The steps are decided in memory and written together before commit: the escalation rows, the page
    queue rows and the timeline events, each with one ``executemany``.
    """
    count = 0
    with db.write():
        if fence is not None:
            from storage import lease

            if not lease.holds(db, fence):
                return 0
        now = at if isinstance(at, datetime) else db_clock.instant(db, at)
        now_ms = math.floor(now.timestamp() * 1000)  # truncated: a row due at now_ms is due at ``now``
        rows = escalation_rows.due_rows(db, now_ms, limit)
        if not rows:
            return 0
        # Rows beyond this batch are due no earlier than its last row: only re-fire within that horizon.
        refire_by = min(now_ms, rows[-1].due_at_ms if len(rows) == limit else now_ms)
        tx = _Tx(db, cache=cache, batched=True)
        if cache is not None:
            cache.refresh(db)
            cache.lend(tx)
        plans = tx.snapshots_of({r.snapshot_hash for r in rows})
        latest = tx.latest
        # The claim's rows come in due order; a step due again within this catch-up (``refire``) is
        # merged back in due order: (due_ms, incident id), as the claim orders them.
        refire: list[tuple[int, str]] = []
        current: dict[str, tuple[escalation_rows.DueRow, dict[str, Any]]] = {}
        states: dict[str, esc.EscalationState] = {}
        i = 0
        n = len(rows)
        while count < limit:
            if refire and (i >= n or refire[0] < (rows[i].due_at_ms, rows[i].incident_id)):
                due_ms, incident_id = heapq.heappop(refire)
                r, inc = current[incident_id]
                state = states[incident_id]
            elif i < n:
                r = rows[i]
                i += 1
                incident_id = r.incident_id
                due_ms = r.due_at_ms
                # what page rows and events read of the incident
                inc = {
                    "id": incident_id,
                    "org_id": r.inc_org,
                    "title": r.title,
                    "severity": r.severity,
                    "status": r.status,
                }
                current[incident_id] = (r, inc)
                latest[incident_id] = r.latest_at
                tx.claimed[incident_id] = r.state
                state = esc.EscalationState(
                    r.step,
                    r.loop,
                    r.generation,
                    r.state,
                    from_epoch_ms(due_ms),
                    r.due_kind,
                    r.round,
                    r.acked_by,
                )
            else:
                break
            mark = tx.mark()
            try:
                stored, policy_hash = plans[r.snapshot_hash]
                plan = tx.plan(stored)
                outcome = esc.fire(state, plan, now, tx.resolve)
                new = outcome.state
                if new.generation == state.generation:
                    continue  # not due after all (cannot happen with now_ms truncated; never loop on it)
                _apply(tx, inc, now, outcome, None, len(plan.layers))
                if state.due_kind == esc.DUE_TIMEOUT:
                    _note_policy_drift(tx, incident_id, r.policy_id, policy_hash, r.noted_policy_hash, now)
            except sqlite3.Error:
                raise  # the database itself: roll the whole tick back; the next wake retries it
            except Exception as exc:  # noqa: BLE001 - a poison row must not stall every other incident
                _step_failed(tx, mark, state, inc, now, now_ms, exc)
                count += 1
                continue
            nxt = None if new.due_at is None else to_epoch_ms(new.due_at)
            tx.save(incident_id, state.generation, new, now, nxt)
            count += 1
            if fired is not None:
                fired.append((incident_id, due_ms))
            states[incident_id] = new
            if nxt is not None and nxt <= refire_by:
                heapq.heappush(refire, (nxt, incident_id))
        tx.flush()
        if cache is not None:
            cache.keep(tx)
    return count


STEP_RETRY_MS = 60_000


def _step_failed(
    tx: _Tx,
    mark: tuple[int, int],
    state: esc.EscalationState,
    inc: dict[str, Any],
    now: datetime,
    now_ms: int,
    exc: Exception,
) -> None:
    """A step raised (a bug, or data this version cannot read): undo its buffered writes, record it in
    the timeline and retry it a minute later. Visible, never silent, and never blocking other rows."""
    _log().exception("escalation step of %s failed", inc["id"])
    tx.rewind(mark)
    retry_ms = now_ms + STEP_RETRY_MS
    tx.save(
        inc["id"],
        state.generation,
        msgspec.structs.replace(state, generation=state.generation + 1, due_at=from_epoch_ms(retry_ms)),
        now,
    )
    tx.record(
        inc["id"],
        now,
        "escalation_step_failed",
        None,
        {
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "dueKind": state.due_kind,
            "retryAt": to_iso(from_epoch_ms(retry_ms)),
        },
    )


def _note_policy_drift(
    tx: _Tx, incident_id: str, policy_id: str, policy_hash: str, noted_hash: str | None, now: datetime
) -> None:
    """Record ``escalation_policy_changed`` the first time a step fires after the live policy (by
    ``policy_id``) diverged from the fingerprint ``policy_hash`` the escalation started with; ``noted_hash``
    is the divergence already reported (the row's ``noted_policy_hash``)."""
    live = tx.live_hash(policy_id)
    if live == policy_hash:
        return
    noted = tx.noted.get(incident_id, noted_hash)
    if (live or "deleted") == noted:
        return
    tx.noted[incident_id] = live or "deleted"
    escalation_rows.note_policy_hash(tx.db, incident_id, live or "deleted")
    tx.record(
        incident_id,
        now,
        "escalation_policy_changed",
        None,
        {
            "policyId": policy_id,
            "policyDeleted": live is None,
            "note": "the policy changed after this escalation started; it carries on with the layers it started with",
        },
    )


def next_due(db: Database) -> datetime | None:
    """The earliest pending due time, or None when nothing is armed."""
    ms = escalation_rows.earliest_due_ms(db)
    return None if ms is None else from_epoch_ms(ms)


def overdue_count(db: Database, now: datetime) -> int:
    return escalation_rows.overdue_count(db, math.floor(now.timestamp() * 1000))


def drive(db: Database, clock: VirtualClock, until: datetime) -> int:
    """Run the engine on a virtual clock up to ``until``: jump to each next due time and tick there.

    Drills and tests use this; it is the same :func:`tick` the live engine runs. Returns the steps fired.
    """
    total = 0
    while True:
        due = next_due(db)
        if due is None or due > until:
            clock.advance_to(until)
            return total + tick(db, clock)
        clock.advance_to(due)
        while True:
            n = tick(db, clock)
            total += n
            if n < DEFAULT_BATCH:
                break


# -- reading --------------------------------------------------------------------------------------


def escalation_state(db: Database, incident_id: str) -> dict[str, Any] | None:
    """The escalation in wire form (what the console shows as "2/3" and a countdown), or None."""
    row = escalation_rows.escalation_row(db, incident_id)
    return None if row is None else _state_wire(row)


def escalation_states(db: Database, org_id: str, incident_ids: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`escalation_state` of many incidents of the organisation in one query, keyed by incident id;
    incidents without an escalation (or outside the organisation) are left out."""
    rows = escalation_rows.escalation_rows(db, org_id, incident_ids)
    return {row["incident_id"]: _state_wire(row) for row in rows}


def _state_wire(row: sqlite3.Row) -> dict[str, Any]:
    snap = json.loads(row["policy_snapshot"])
    due = None if row["due_at_ms"] is None else from_epoch_ms(row["due_at_ms"])
    kind = row["due_kind"]
    return {
        "policyId": row["policy_id"],
        "state": row["state"],
        "currentLayer": row["step"] + 1 if snap["layers"] else 0,
        "layerCount": len(snap["layers"]),
        "loop": row["loop"],
        "loops": int(snap.get("repeat") or 0) + 1,
        "nextEscalationAt": to_iso_opt(due) if kind == esc.DUE_TIMEOUT else None,
        "repageAt": to_iso_opt(due) if kind == esc.DUE_REPAGE else None,
        "snoozedUntil": to_iso_opt(due) if kind == esc.DUE_SNOOZE_END else None,
        "acknowledgedBy": row["acked_by"],
        "startedAt": row["started_at"],
        "generation": row["generation"],
    }
