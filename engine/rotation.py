"""Who is on call: pure resolution of a schedule's rotation layers and overrides.

Everything here is a function of its arguments (no clock, no I/O) so the console, the escalation engine,
the linter and the tests all get the same answer for the same instant. The rules, with worked examples,
are in docs/TIME_RULES.md; the rule numbers in comments refer to that file.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from msgspec import Struct
from msgspec.structs import replace

from engine.model import Membership, Override, RotationLayer, Schedule, Target
from engine.timeparse import parse_clock_time, validate_timezone

__all__ = [
    "DstKind",
    "Gap",
    "Handoff",
    "LayerResolution",
    "LayerShifts",
    "Resolution",
    "ScheduleShifts",
    "Shift",
    "ShiftSource",
    "TargetResolution",
    "handoff_dst_issues",
    "parse_handoff_time",
    "resolve",
    "resolve_target",
    "shifts",
    "validate_timezone",
]

DstKind = Literal["gap", "overlap"]
ShiftSource = Literal["rotation", "override"]


# --------------------------------------------------------------------------------------------- results


class LayerResolution(Struct, frozen=True):
    """One layer at one instant. ``participant_id`` stays the rotation's user even when displaced, so a
    UI can show "alice (covered by bob)".

    When the rotation's turn belongs to a user removed from the organisation (rule 8), the layer is
    ``active`` but vacant: ``participant_id``, ``shift_start`` and ``shift_end`` are None and
    ``vacated_by`` names the removed user (for explanations only; nothing pages or shows them as on call).
    """

    layer_id: str
    name: str
    position: int
    active: bool
    participant_id: str | None
    shift_start: datetime | None  # start of this participant's uninterrupted stint on the layer
    shift_end: datetime | None  # next change of participant or end of the layer; None = never
    displaced_by_override: bool
    vacated_by: str | None = None


class Resolution(Struct, frozen=True):
    """Who is on call at ``at``. ``removed`` lists the removed users (rule 8) whose rotation turn or
    override it would otherwise be, in layer order then override order: they appear in no other field."""

    schedule_id: str
    at: datetime
    owner_id: str | None
    paging_targets: tuple[str, ...]
    layers: tuple[LayerResolution, ...]  # ordered by position
    override: Override | None
    next_handoff: datetime | None
    removed: tuple[str, ...] = ()


class TargetResolution(Struct, frozen=True):
    """Who an escalation layer's target pages at one instant: ``user_ids`` (members only, in order, each
    once), and ``removed``, the removed users it would otherwise have paged (so a timeline can say why
    a layer paged fewer people, or nobody)."""

    user_ids: tuple[str, ...]
    removed: tuple[str, ...] = ()


class Shift(Struct, frozen=True):
    """An on-call interval ``[start, end)``. ``layer_id`` is None only for an override covering a moment
    when no layer is active (rule 6)."""

    user_id: str
    start: datetime
    end: datetime
    layer_id: str | None
    source: ShiftSource
    override_id: str | None = None


class Handoff(Struct, frozen=True):
    """A rotation handoff: the instant a layer's participant changes.

    ``intended_local`` is the configured wall-clock moment (``YYYY-MM-DDTHH:MM`` in the schedule's zone);
    when ``dst`` is set the clock never showed it ("gap") or showed it twice ("overlap"), which is what a
    linter wants to warn about.
    """

    at: datetime
    layer_id: str
    from_user: str
    to_user: str
    dst: DstKind | None
    intended_local: str


class Gap(Struct, frozen=True):
    start: datetime
    end: datetime


class LayerShifts(Struct, frozen=True):
    """A layer's effective coverage: rotation shifts, with override pieces where the layer was displaced.

    ``handoffs`` are the rotation's own handoffs, listed even under an override because the rotation
    carries on underneath it.
    """

    layer_id: str
    name: str
    position: int
    shifts: tuple[Shift, ...]
    handoffs: tuple[Handoff, ...]


class ScheduleShifts(Struct, frozen=True):
    schedule_id: str
    start: datetime
    end: datetime
    layers: tuple[LayerShifts, ...]  # ordered by position
    owners: tuple[Shift, ...]  # who owns the schedule, overrides applied
    gaps: tuple[Gap, ...]  # nobody owns the schedule

    @property
    def handoffs(self) -> tuple[Handoff, ...]:
        order = {ls.layer_id: n for n, ls in enumerate(self.layers)}
        every = [h for ls in self.layers for h in ls.handoffs]
        return tuple(sorted(every, key=lambda h: (h.at, order[h.layer_id])))

    @property
    def dst_issues(self) -> tuple[Handoff, ...]:
        return tuple(h for h in self.handoffs if h.dst is not None)


# --------------------------------------------------------------------------------------------- helpers


def parse_handoff_time(text: str) -> time:
    """A layer's handoff time, ``"HH:MM"`` (:func:`engine.timeparse.parse_clock_time`). Raises
    ``ValueError``: ``handoff time must be 'HH:MM' between 00:00 and 23:59, got '9:00'``."""
    try:
        return parse_clock_time(text)
    except ValueError as exc:
        raise ValueError(f"handoff time {exc}") from None


def _utc(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def _wall_to_utc(tz: ZoneInfo, ordinal: int, hhmm: time) -> datetime:
    """Wall clock -> instant with fold=0: a gap time uses the pre-gap offset, an overlap time its first
    occurrence (rules 2 and 3). Cached because every resolve of a schedule hits the same few boundaries."""
    return datetime.combine(date.fromordinal(ordinal), hhmm, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=1 << 14)
def _wall_info(tz: ZoneInfo, ordinal: int, hhmm: time) -> tuple[DstKind | None, str]:
    """Whether a wall-clock moment is skipped or repeated, and how to show it as intended."""
    local = datetime.combine(date.fromordinal(ordinal), hhmm, tzinfo=tz)
    shown = f"{local:%Y-%m-%dT%H:%M}"
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return "gap", shown
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        return "overlap", shown
    return None, shown


class _Rotation:
    """A layer with its arithmetic precomputed. Boundary ``i`` (i >= 1) is handoff ``i``; shift ``i`` runs
    from boundary ``i`` (or ``start`` for i = 0) to boundary ``i + 1`` and belongs to ``ids[i % n]``."""

    __slots__ = ("layer", "tz", "d0", "k", "hhmm", "start", "until", "ids", "n", "uniform", "live")

    def __init__(self, layer: RotationLayer, tz: ZoneInfo) -> None:
        if layer.rotation_length_days < 1:
            raise ValueError(f"layer {layer.id!r}: rotation_length_days must be at least 1")
        self.layer = layer
        self.tz = tz
        self.start = _utc(layer.effective_from, f"layer {layer.id!r} effective_from")
        self.until = (
            None
            if layer.effective_until is None
            else _utc(layer.effective_until, f"layer {layer.id!r} effective_until")
        )
        self.ids = layer.participant_ids
        self.n = len(self.ids)
        # A layer nobody is in, or whose window is empty, never pages anyone (rule 4).
        self.live = self.n > 0 and (self.until is None or self.until > self.start)
        self.uniform = self.n > 0 and self.ids.count(self.ids[0]) == self.n
        self.k = layer.rotation_length_days
        self.hhmm = layer.handoff_time.replace(tzinfo=None, fold=0)
        self.d0 = self.start.astimezone(tz).toordinal()

    def boundary(self, i: int) -> datetime:
        return _wall_to_utc(self.tz, self.d0 + i * self.k, self.hhmm)

    def active_at(self, t: datetime) -> bool:
        return self.live and self.start <= t and (self.until is None or t < self.until)

    def index_at(self, t: datetime) -> int:
        """The shift containing ``t`` (>= start): guessed from the local date, then corrected, so the cost
        does not grow with the age of the layer."""
        i = max(0, (t.astimezone(self.tz).toordinal() - self.d0) // self.k)
        while i >= 1 and self.boundary(i) > t:
            i -= 1
        while self.boundary(i + 1) <= t:
            i += 1
        return i

    def who(self, i: int) -> str:
        return self.ids[i % self.n]

    def stint(self, i: int) -> tuple[datetime, datetime | None]:
        """Start and end of the run of consecutive shifts around ``i`` held by the same user, clipped to
        the layer's window: a "handoff" to the same person is not a handoff."""
        if self.uniform:
            return self.start, self.until
        user = self.who(i)
        j = i
        while j >= 1 and self.who(j - 1) == user:
            j -= 1
        m = i + 1
        while self.who(m) == user:
            m += 1
        begin = self.start if j == 0 else max(self.start, self.boundary(j))
        end = self.boundary(m)
        if self.until is not None and self.until < end:
            end = self.until
        return begin, end

    def handoff(self, i: int, at: datetime) -> Handoff:
        dst, shown = _wall_info(self.tz, self.d0 + i * self.k, self.hhmm)
        return Handoff(at, self.layer.id, self.who(i - 1), self.who(i), dst, shown)

    def segments(
        self, lo: datetime, hi: datetime
    ) -> tuple[list[tuple[datetime, datetime, str]], list[Handoff]]:
        """Per-user stints and handoffs within ``[lo, hi)``, walking boundary by boundary."""
        ws = max(lo, self.start)
        we = hi if self.until is None else min(hi, self.until)
        if not self.live or ws >= we:
            return [], []
        if self.uniform:
            return [(ws, we, self.ids[0])], []
        segs: list[tuple[datetime, datetime, str]] = []
        hands: list[Handoff] = []
        i = self.index_at(ws)
        cur, user = ws, self.who(i)
        while True:
            i += 1
            b = self.boundary(i)
            if b >= we:
                break
            nxt = self.who(i)
            if nxt == user:
                continue
            if b > cur:
                segs.append((cur, b, user))
            hands.append(self.handoff(i, b))
            cur, user = b, nxt
        segs.append((cur, we, user))
        return segs, hands


def _compile(schedule: Schedule) -> list[_Rotation]:
    tz = validate_timezone(schedule.timezone)
    return [_Rotation(layer, tz) for layer in sorted(schedule.layers, key=lambda la: la.position)]


def _winning_override(overrides: tuple[Override, ...] | list[Override], t: datetime) -> Override | None:
    """Latest start wins, then the larger id (rule 6): the most recent decision is the one people mean."""
    best: Override | None = None
    for o in overrides:
        if o.start <= t < o.end and (best is None or (o.start, o.id) > (best.start, best.id)):
            best = o
    return best


# --------------------------------------------------------------------------------------------- resolve


def resolve(schedule: Schedule, at: datetime, members: Membership | None = None) -> Resolution:
    """Owner, paging targets and per-layer detail at instant ``at`` (rules 1-8 of docs/TIME_RULES.md).

    ``members`` says who belongs to the organisation when (rule 8): a removed user's rotation turn is a
    gap and their overrides do not apply. ``None`` counts every user named in the schedule as a member
    (the pure rules on their own); every view and the escalation engine pass the organisation's
    membership, so they all give the same answer. Raises ``ValueError`` for a naive ``at`` or a
    schedule the rules cannot read (unknown zone, rotation length below 1).
    """
    t = _utc(at, "at")
    removed: list[str] = []
    candidates = schedule.overrides
    if members is not None:
        candidates = tuple(o for o in schedule.overrides if members.is_member(o.user_id, t))
        removed_cover = [
            o.user_id
            for o in sorted(schedule.overrides, key=lambda o: (o.start, o.id), reverse=True)
            if o.start <= t < o.end and not members.is_member(o.user_id, t)
        ]
    else:
        removed_cover = []
    override = _winning_override(candidates, t)
    owner_layer: int | None = None  # index of the owner-bearing layer among the position-ordered layers
    upcoming: list[datetime] = []  # instants at which the answer could change
    layers: list[LayerResolution] = []
    if members is not None and override is not None:
        leaves = members.removal_after(override.user_id, t)
        if leaves is not None:
            upcoming.append(leaves)
    for rot in _compile(schedule):
        if rot.active_at(t):
            i = rot.index_at(t)
            begin, end = rot.stint(i)
            if end is not None:
                upcoming.append(end)
            if members is not None:
                who = rot.who(i)
                if not members.is_member(who, t):  # rule 8: a removed user's turn is a gap
                    removed.append(who)
                    layers.append(
                        LayerResolution(
                            rot.layer.id,
                            rot.layer.name,
                            rot.layer.position,
                            True,
                            None,
                            None,
                            None,
                            False,
                            who,
                        )
                    )
                    continue
                leaves = members.removal_after(who, t)
                if leaves is not None:
                    upcoming.append(leaves)
                    if end is None or leaves < end:
                        end = leaves
            if owner_layer is None:
                owner_layer = len(layers)
            res = LayerResolution(
                rot.layer.id, rot.layer.name, rot.layer.position, True, rot.who(i), begin, end, False
            )
        else:
            if rot.live and t < rot.start:
                upcoming.append(rot.start)
            res = LayerResolution(
                rot.layer.id, rot.layer.name, rot.layer.position, False, None, None, None, False
            )
        layers.append(res)

    for o in schedule.overrides:
        if o.start >= o.end:
            continue
        if o.start > t:
            upcoming.append(o.start)
        elif o.end > t:
            upcoming.append(o.end)

    owner: str | None = None
    if owner_layer is not None:
        owner = layers[owner_layer].participant_id
        if override is not None:
            owner = override.user_id
            layers[owner_layer] = replace(layers[owner_layer], displaced_by_override=True)
    elif override is not None:  # rule 6: an override stands even when no layer is active
        owner = override.user_id

    targets: list[str] = [] if owner is None or owner_layer is not None else [owner]
    for n, res in enumerate(layers):
        pick = owner if n == owner_layer else res.participant_id
        if pick is not None and pick not in targets:
            targets.append(pick)

    nxt = min(upcoming) if upcoming else None
    for uid in removed_cover:
        if uid not in removed:
            removed.append(uid)
    return Resolution(
        schedule_id=schedule.id,
        at=t,
        owner_id=owner,
        paging_targets=tuple(targets),
        layers=tuple(layers),
        override=override,
        next_handoff=None if nxt is None else _utc(nxt, "next_handoff"),
        removed=tuple(dict.fromkeys(removed)),
    )


def resolve_target(
    target: Target, schedule: Schedule | None, at: datetime, members: Membership
) -> TargetResolution:
    """Who an escalation layer's ``target`` pages at ``at``: the one answer the escalation engine pages
    with and every "who would be paged" view shows.

    A ``schedule`` target pages the schedule's paging targets (:func:`resolve` with ``members``); a
    missing schedule (``None``) pages nobody. A ``users`` target pages the listed users who are members
    at ``at``, in order, each once. Raises ``ValueError`` as :func:`resolve` does.
    """
    if target.type == "schedule":
        if schedule is None:
            return TargetResolution(())
        res = resolve(schedule, at, members)
        return TargetResolution(res.paging_targets, res.removed)
    t = _utc(at, "at")
    kept: dict[str, None] = {}
    gone: dict[str, None] = {}
    for uid in target.user_ids:
        (kept if members.is_member(uid, t) else gone)[uid] = None
    return TargetResolution(tuple(kept), tuple(gone))


# --------------------------------------------------------------------------------------------- shifts


_RunKey = tuple[str, str | None, ShiftSource, str | None]  # user, layer, source, override


class _Runs:
    """Collects consecutive pieces into shifts, extending the open one while the key stays the same, so a
    boundary where nothing changes leaves no seam and costs no allocation."""

    __slots__ = ("out", "key", "start", "end")

    def __init__(self) -> None:
        self.out: list[Shift] = []
        self.key: _RunKey | None = None
        self.start = self.end = datetime.min.replace(tzinfo=UTC)

    def add(self, key: _RunKey, a: datetime, b: datetime) -> None:
        if key == self.key and a == self.end:
            self.end = b
            return
        self.close()
        self.key, self.start, self.end = key, a, b

    def close(self) -> tuple[Shift, ...]:
        if self.key is not None:
            user, lid, src, oid = self.key
            self.out.append(Shift(user, self.start, self.end, lid, src, oid))
            self.key = None
        return tuple(self.out)


def shifts(
    schedule: Schedule, start: datetime, end: datetime, members: Membership | None = None
) -> ScheduleShifts:
    """Every layer's coverage, the schedule's owners and its gaps over ``[start, end)``.

    Walks handoff boundaries, override edges and removals only, so a year of a daily rotation is a few
    hundred steps. With ``members`` (rule 8), a removed user's turns are missing from their layer's
    coverage (a gap in the layer; the rotation's handoffs are still listed, since the rotation does not
    shift) and their overrides do not apply, from the instant of removal; before it they count as ever.
    Raises ``ValueError`` when ``end <= start`` or an instant is naive.
    """
    lo, hi = _utc(start, "start"), _utc(end, "end")
    if hi <= lo:
        raise ValueError("end must be after start")
    rots = _compile(schedule)
    overrides = [
        o
        for o in schedule.overrides
        if o.end > o.start and _utc(o.start, "override start") < hi and _utc(o.end, "override end") > lo
    ]

    layer_segs: list[list[tuple[datetime, datetime, str]]] = []
    layer_hands: list[list[Handoff]] = []
    points = {lo, hi}
    for rot in rots:
        segs, hands = rot.segments(lo, hi)
        layer_segs.append(segs)
        layer_hands.append(hands)
        for a, b, _ in segs:
            points.add(a)
            points.add(b)
    for o in overrides:
        points.add(max(lo, _utc(o.start, "override start")))
        points.add(min(hi, _utc(o.end, "override end")))
    if members is not None:
        for removed in members.removed_at.values():
            if lo < removed < hi:
                points.add(_utc(removed, "removal"))
    edges = sorted(points)
    starts = [[s[0] for s in segs] for segs in layer_segs]

    per_layer = [_Runs() for _ in rots]
    owners = _Runs()
    gaps: list[Gap] = []
    for a, b in zip(edges, edges[1:], strict=False):
        if members is None:
            ov = _winning_override(overrides, a)
        else:
            ov = _winning_override([o for o in overrides if members.is_member(o.user_id, a)], a)
        owner_done = False
        for n, segs in enumerate(layer_segs):
            k = bisect_right(starts[n], a) - 1
            if k < 0 or a >= segs[k][1]:
                continue
            if members is not None and not members.is_member(segs[k][2], a):
                continue  # rule 8: a removed user's turn is a gap in the layer
            lid = rots[n].layer.id
            key: _RunKey
            if not owner_done and ov is not None:
                key = (ov.user_id, lid, "override", ov.id)
            else:
                key = (segs[k][2], lid, "rotation", None)
            if not owner_done:
                owners.add(key, a, b)
                owner_done = True
            per_layer[n].add(key, a, b)
        if not owner_done:
            if ov is not None:
                owners.add((ov.user_id, None, "override", ov.id), a, b)
            elif gaps and gaps[-1].end == a:
                gaps[-1] = Gap(gaps[-1].start, b)
            else:
                gaps.append(Gap(a, b))

    return ScheduleShifts(
        schedule_id=schedule.id,
        start=lo,
        end=hi,
        layers=tuple(
            LayerShifts(
                layer_id=rot.layer.id,
                name=rot.layer.name,
                position=rot.layer.position,
                shifts=per_layer[n].close(),
                handoffs=tuple(layer_hands[n]),
            )
            for n, rot in enumerate(rots)
        ),
        owners=owners.close(),
        gaps=tuple(gaps),
    )


def handoff_dst_issues(schedule: Schedule, start: datetime, end: datetime) -> tuple[Handoff, ...]:
    """Handoffs in ``[start, end)`` whose wall-clock time fell in a DST gap or overlap, for the linter.

    Cheaper than :func:`shifts` because it skips the owner sweep.
    """
    lo, hi = _utc(start, "start"), _utc(end, "end")
    found: list[tuple[datetime, int, Handoff]] = []
    for n, rot in enumerate(_compile(schedule)):
        _, hands = rot.segments(lo, hi)
        found.extend((h.at, n, h) for h in hands if h.dst is not None)
    return tuple(h for _, _, h in sorted(found, key=lambda x: (x[0], x[1])))


def owner_shift_end(owners: Sequence[Shift], user_id: str, at: datetime) -> datetime | None:
    """When ``user_id``'s stint owning the schedule that covers ``at`` ends: the end of the owner shift
    holding ``at``, carried across back-to-back shifts of the same person (a handoff on another layer,
    an override edge). ``owners`` are :attr:`ScheduleShifts.owners`, in time order. None when they do not
    own the schedule at ``at``, or when the stint runs to the end of the shifts given (no end in sight)."""
    end: datetime | None = None
    for shift in owners:
        if end is None:
            if shift.user_id == user_id and shift.start <= at < shift.end:
                end = shift.end
        elif shift.start == end and shift.user_id == user_id:
            end = shift.end
        elif shift.start >= end:
            break
    if end is None or end == owners[-1].end:
        return None
    return end
