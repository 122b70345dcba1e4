"""Simulation: weeks of incidents through the real escalation decisions, on virtual time, in memory.

:func:`simulate` (or :func:`prepare`, :func:`run_part` per part, :func:`finish`) is a discrete-event loop
over a heap of ``(instant, kind, seq, incident, detail)``: the virtual ``now`` jumps from one event to the
next, and ``seq`` breaks ties first-in first-out, so a run is a pure function of the :class:`Scenario` and
the seed. Every escalation step is decided by :mod:`engine.escalation` (``begin``, ``fire``,
``acknowledge``), called directly, with a :class:`CachedResolver` that answers "who does this target page
at this instant" from :func:`engine.rotation.resolve`, precomputed once per schedule shift rather than once
per page. Nothing here touches SQLite or reads a clock.

Memory does not grow with what is finished: the arrivals are two arrays (:class:`Arrivals`, about 10 bytes
an incident), only incidents still escalating hold a state, and a finished one leaves nothing but its
share of the report's counts (and its time to acknowledge, one float). A million incidents peak at about
75 MB of resident memory (docs/PERFORMANCE.md, "Simulation").

Randomness:

* incident arrivals use ``random.Random(seed)`` in arrival order;
* each responder decision (acknowledge or not, and after how long) is a counter-based draw keyed by
  ``(seed, incident number, round, layer, person)``, so it does not depend on the order in which
  simultaneous events are processed. The SimPy model in ``bench/simulate.py`` uses the same draws and must
  agree exactly.

Rules of the model (docs/SIMULATION.md has them with the scenario keys):

* Each person paged decides independently. If they are unavailable at the moment of the page (an
  ``unavailable`` window, e.g. sleep) they do not respond to that page. Otherwise they acknowledge with
  their ``ack_probability``, after a log-normally distributed delay given by its median and 90th
  percentile. The first acknowledgement while the escalation is still paging wins; a person paged by
  layer 1 can still acknowledge after layer 2 has been paged.
* An acknowledged incident is handled: re-page reminders are not simulated.
* Behaviour settings apply most-specific first: person, then layer, then the scenario default.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine import escalation as esc
from engine import rotation
from engine.model import Membership, Policy, Schedule, Target
from engine.reports import NIGHT_END, NIGHT_START, percentile

__all__ = [
    "Behaviour",
    "BehaviourPatch",
    "CachedResolver",
    "Person",
    "Scenario",
    "SimulationReport",
    "Window",
    "arrivals",
    "draw_arrivals",
    "decision_draws",
    "percentile",
    "simulate",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_M64 = (1 << 64) - 1
_Z90 = 1.2815515655446004  # the standard normal's 90th percentile
_MASK21 = (1 << 21) - 1
_INV21 = 1.0 / (1 << 21)
_TAU = 2.0 * math.pi
_MICRO = timedelta(microseconds=1)


# --------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Behaviour:
    """How a paged person responds: the chance of acknowledging and the delay's median and p90."""

    ack_probability: float = 0.9
    ack_median_minutes: float = 3.0
    ack_p90_minutes: float = 10.0


@dataclass(frozen=True)
class BehaviourPatch:
    """Settings for one layer or one person; ``None`` keeps the less specific value."""

    ack_probability: float | None = None
    ack_median_minutes: float | None = None
    ack_p90_minutes: float | None = None

    def over(self, base: Behaviour) -> Behaviour:
        return Behaviour(
            base.ack_probability if self.ack_probability is None else self.ack_probability,
            base.ack_median_minutes if self.ack_median_minutes is None else self.ack_median_minutes,
            base.ack_p90_minutes if self.ack_p90_minutes is None else self.ack_p90_minutes,
        )


@dataclass(frozen=True)
class Window:
    """A weekly wall-clock window (``days`` 0 = Monday; ``end <= start`` runs past midnight into the next
    day) or, with ``start_at``/``end_at``, one absolute interval (a holiday)."""

    days: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time = time(0, 0)
    start_at: datetime | None = None
    end_at: datetime | None = None


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    timezone: str | None = None  # None: the scenario's zone
    behaviour: BehaviourPatch = BehaviourPatch()
    unavailable: tuple[Window, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """Everything a run depends on, with names already resolved to models and ids."""

    start: datetime  # aware
    end: datetime  # aware, exclusive
    timezone: str  # hour-of-day, weekday, night and weekly windows are read in this zone
    per_week: float  # mean incidents per week
    by_hour: tuple[float, ...] = (1.0,) * 24
    by_weekday: tuple[float, ...] = (1.0,) * 7
    severity_mix: tuple[tuple[str, float], ...] = (("high", 1.0),)
    policy_by_severity: dict[str, Policy | None] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    active_user_ids: frozenset[str] = frozenset()
    names: dict[str, str] = field(default_factory=dict)  # user id -> display name
    default: Behaviour = Behaviour()
    layer_behaviour: tuple[tuple[str | None, int, BehaviourPatch], ...] = ()  # (policy id|None, position, …)
    people: dict[str, Person] = field(default_factory=dict)
    night_start: time = NIGHT_START  # the definitions shared with the live report (engine/reports.py)
    night_end: time = NIGHT_END


# --------------------------------------------------------------------------------------------- helpers


def _mix(x: int) -> int:
    """splitmix64: a well-spread 64-bit integer from any integer (counter-based random numbers)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def incident_key(seed: int, incident: int) -> int:
    """The per-incident root of the counter-based draws."""
    return _mix(_mix(seed & _M64) ^ incident)


def decision_draws(root: int, rnd: int, position: int, person: int) -> tuple[float, float]:
    """One responder decision's randomness, ``(u, z)``: acknowledge when ``u < probability``; the delay
    is ``median * exp(sigma * z)`` (``z`` standard normal, by Box-Muller). One 64-bit draw is split into
    three 21-bit uniforms, plenty for a behavioural model. ``root`` is :func:`incident_key`; the result
    depends only on the arguments, never on the order events are processed in."""
    key = _mix(root ^ (rnd << 40 | position << 24 | person))
    u = ((key >> 43) + 0.5) * _INV21
    u1 = (((key >> 22) & _MASK21) + 0.5) * _INV21
    u2 = ((key & _MASK21) + 0.5) * _INV21
    return u, math.sqrt(-2.0 * math.log(u1)) * math.cos(_TAU * u2)


def ack_delay_minutes(b: Behaviour, z: float) -> float:
    """Log-normal delay with the behaviour's median and 90th percentile (a fixed delay when equal)."""
    if b.ack_p90_minutes <= b.ack_median_minutes or b.ack_median_minutes <= 0:
        return max(0.0, b.ack_median_minutes)
    sigma = math.log(b.ack_p90_minutes / b.ack_median_minutes) / _Z90
    return b.ack_median_minutes * math.exp(sigma * z)


class Intervals:
    """A set of disjoint UTC intervals with an O(log n) "is ``t`` inside?" test."""

    __slots__ = ("edges", "stamps")

    def __init__(self, spans: Iterable[tuple[datetime, datetime]]) -> None:
        merged: list[list[datetime]] = []
        for a, b in sorted(s for s in spans if s[1] > s[0]):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.edges = [x for ab in merged for x in ab]
        self.stamps = [x.timestamp() for x in self.edges]  # the same edges as epoch seconds, for speed

    def contains(self, t: datetime) -> bool:
        return bisect_right(self.edges, t) % 2 == 1

    def boundaries(self) -> list[datetime]:
        return list(self.edges)


def weekly_spans(
    windows: Iterable[Window], tz_name: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The UTC spans of ``windows`` between ``start`` and ``end`` (wall clock read in ``tz_name``)."""
    tz = rotation.validate_timezone(tz_name)
    out: list[tuple[datetime, datetime]] = []
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    for w in windows:
        if w.start_at is not None and w.end_at is not None:
            out.append((w.start_at.astimezone(UTC), w.end_at.astimezone(UTC)))
            continue
        d = first
        while d <= last:
            if d.weekday() in w.days:
                a = datetime.combine(d, w.start, tzinfo=tz).astimezone(UTC)
                end_day = d if w.end > w.start else d + timedelta(days=1)
                b = datetime.combine(end_day, w.end, tzinfo=tz).astimezone(UTC)
                out.append((a, b))
            d += timedelta(days=1)
    return out


class CachedResolver:
    """The escalation engine's :data:`engine.escalation.Resolver`, answered from precomputed shifts.

    Each schedule is resolved once per change of its paging targets between ``start`` and ``end`` (by
    following ``Resolution.next_handoff``); a lookup is then a bisect, and the shift it finds answers every
    later lookup until that shift ends. Instants outside the window fall back to
    :func:`engine.rotation.resolve`, with the same membership rule as the live engine (rule 8 of
    docs/TIME_RULES.md: a removed user's turn is a gap, their overrides do not apply).
    """

    def __init__(
        self, schedules: dict[str, Schedule], active: frozenset[str], start: datetime, end: datetime
    ) -> None:
        self.schedules = schedules
        self.active = active
        self.members = Membership(active)
        self.start, self.end = start, end
        self._starts: dict[str, list[datetime]] = {}
        self._stamps: dict[str, list[float]] = {}
        self._targets: dict[str, list[tuple[str, ...]]] = {}
        self._users: dict[tuple[str, ...], tuple[str, ...]] = {}
        # per schedule, the last shift a lookup found: (from, until, paging targets)
        self._shift: dict[str, tuple[datetime, datetime, tuple[str, ...]]] = {}
        for sid, sched in schedules.items():
            starts: list[datetime] = []
            targets: list[tuple[str, ...]] = []
            t = start
            while t < end:
                res = rotation.resolve(sched, t, self.members)
                who = res.paging_targets
                if not targets or targets[-1] != who:
                    starts.append(t)
                    targets.append(who)
                if res.next_handoff is None or res.next_handoff <= t:
                    break
                t = res.next_handoff
            self._starts[sid] = starts
            self._stamps[sid] = [x.timestamp() for x in starts]
            self._targets[sid] = targets

    def __call__(self, target: Target, at: datetime) -> tuple[str, ...]:
        if target.type == "schedule":
            # The shift found last time is valid until the next change: the loop asks in time order, so
            # nearly every lookup is two comparisons.
            shift = self._shift.get(target.schedule_id or "")
            if shift is not None and shift[0] <= at < shift[1]:
                return shift[2]
            return self._lookup(target.schedule_id or "", at)
        users = self._users.get(target.user_ids)
        if users is None:
            # Membership here has no removal instants, so the answer is the same at every instant.
            users = self._users[target.user_ids] = rotation.resolve_target(
                target, None, at, self.members
            ).user_ids
        return users

    def _lookup(self, sid: str, at: datetime) -> tuple[str, ...]:
        starts = self._starts.get(sid)
        if starts is None:
            return ()
        if starts and self.start <= at < self.end:
            i = bisect_right(self._stamps[sid], at.timestamp()) - 1
            if i < 0:
                return ()
            who = self._targets[sid][i]
            until = starts[i + 1] if i + 1 < len(starts) else self.end
            self._shift[sid] = (starts[i], until, who)
            return who
        return rotation.resolve(self.schedules[sid], at, self.members).paging_targets

    def change_points(self, schedule_id: str) -> list[datetime]:
        return list(self._starts.get(schedule_id, ()))


# --------------------------------------------------------------------------------------------- arrivals


class Arrivals:
    """Incident start instants and severities, stored compactly (a million take about 10 MB rather than
    the 110 MB of a list of ``(datetime, str)`` tuples): microseconds after ``origin`` and an index into
    ``severities``. Indexing and iterating give ``(start, severity)`` pairs, in time order."""

    __slots__ = ("codes", "offsets", "origin", "severities")

    def __init__(self, origin: datetime, severities: tuple[str, ...]) -> None:
        self.origin = origin
        self.severities = severities
        self.offsets = array("q")  # µs after origin
        self.codes = array("H")  # index into severities

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> tuple[datetime, str]:
        return self.origin + _MICRO * self.offsets[i], self.severities[self.codes[i]]

    def __iter__(self) -> Iterator[tuple[datetime, str]]:
        origin, sevs = self.origin, self.severities
        for us, code in zip(self.offsets, self.codes, strict=True):
            yield origin + _MICRO * us, sevs[code]


def arrivals(scenario: Scenario, rng: random.Random) -> list[tuple[datetime, str]]:
    """Incident start instants and severities: a Poisson process whose rate follows ``by_hour`` ×
    ``by_weekday`` on the scenario's wall clock, averaging ``per_week`` incidents a week."""
    return list(draw_arrivals(scenario, rng))


def draw_arrivals(scenario: Scenario, rng: random.Random) -> Arrivals:
    """:func:`arrivals`, stored compactly (:class:`Arrivals`); the same draws from ``rng``."""
    tz = rotation.validate_timezone(scenario.timezone)
    weights = [[d * h for h in scenario.by_hour] for d in scenario.by_weekday]
    week_total = sum(sum(row) for row in weights)
    sevs = tuple(s for s, _ in scenario.severity_mix)
    t = scenario.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = Arrivals(t, sevs)
    if week_total <= 0 or scenario.per_week <= 0:
        return out
    sev_w = [w for _, w in scenario.severity_mix]
    cum: list[float] = []
    acc = 0.0
    for w in sev_w:
        acc += w
        cum.append(acc)
    hour = timedelta(hours=1)
    draw, log = rng.random, math.log
    origin = t
    offsets, codes = out.offsets.append, out.codes.append
    end = scenario.end.astimezone(UTC)
    while t < end:
        mid = (t + hour / 2).astimezone(tz)
        rate = scenario.per_week * weights[mid.weekday()][mid.hour] / week_total  # per hour
        if rate > 0:
            x = -log(1.0 - draw()) / rate  # rng.expovariate(rate), inlined
            while x < 1.0:
                at = t + timedelta(hours=x)
                if scenario.start <= at < end:
                    codes(bisect_right(cum, draw() * acc) if len(sevs) > 1 else 0)
                    offsets((at - origin) // _MICRO)
                x += -log(1.0 - draw()) / rate
        t += hour
    return out


# --------------------------------------------------------------------------------------------- report


@dataclass
class SimulationReport:
    seed: int
    start: datetime
    end: datetime
    incidents: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    not_paged: int = 0  # severities with no policy
    acknowledged: int = 0
    exhausted: int = 0
    acked_after_exhaustion: int = 0  # someone paged earlier acknowledged after the policy ran out
    exhausted_by_policy: dict[str, int] = field(default_factory=dict)
    acked_at_layer: dict[int, int] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)  # user id -> pages
    night_pages: dict[str, int] = field(default_factory=dict)
    tta_seconds: list[float] = field(default_factory=list)  # sorted after the run
    nobody_incidents: dict[tuple[str, int], int] = field(default_factory=dict)  # (policy id, position)
    nobody_minutes: dict[tuple[str, int], float] = field(default_factory=dict)
    nobody_available_minutes: dict[tuple[str, int], float] = field(default_factory=dict)
    engine_steps: int = 0
    exhausted_examples: list[tuple[datetime, str]] = field(default_factory=list)  # (start, policy id)

    def merge(self, other: SimulationReport) -> None:
        """Add another part of the same run (a worker's share of the incidents)."""
        self.incidents += other.incidents
        self.not_paged += other.not_paged
        self.acknowledged += other.acknowledged
        self.acked_after_exhaustion += other.acked_after_exhaustion
        self.exhausted += other.exhausted
        self.engine_steps += other.engine_steps
        _add_counts(self.by_severity, other.by_severity)
        _add_counts(self.acked_at_layer, other.acked_at_layer)
        _add_counts(self.pages, other.pages)
        _add_counts(self.night_pages, other.night_pages)
        _add_counts(self.nobody_incidents, other.nobody_incidents)
        _add_counts(self.exhausted_by_policy, other.exhausted_by_policy)
        self.tta_seconds.extend(other.tta_seconds)
        self.exhausted_examples = sorted(self.exhausted_examples + other.exhausted_examples)[:10]

    def tta(self, q: float) -> float | None:
        return percentile(self.tta_seconds, q)

    def summary(self) -> dict[str, Any]:
        """The figures that must agree between two models of the same run (the benchmark checks this)."""
        return {
            "incidents": self.incidents,
            "acknowledged": self.acknowledged,
            "exhausted": self.exhausted,
            "pages": sum(self.pages.values()),
            "ttaP50": self.tta(50),
            "ttaP95": self.tta(95),
            "ttaMax": self.tta(100),
        }


def _add_counts(mine: dict[Any, int], theirs: dict[Any, int]) -> None:
    for k, v in theirs.items():
        mine[k] = mine.get(k, 0) + v


# --------------------------------------------------------------------------------------------- the loop

_ARRIVE, _DUE, _ACK = 0, 1, 2


class _Responders:
    """Behaviour, availability and night windows, precomputed per person for O(log n) lookups."""

    def __init__(self, scenario: Scenario, start: datetime, end: datetime) -> None:
        self.scenario = scenario
        # Stable numbers (sorted ids), so a person's draws never depend on who happened to be paged first.
        self.index: dict[str, int] = {uid: i for i, uid in enumerate(sorted(scenario.active_user_ids))}
        self.behaviour: dict[tuple[str, int, str], Behaviour] = {}
        self.away: dict[str, Intervals] = {}
        self.night: dict[str, Intervals] = {}
        self.layers = {(pid, pos): patch for pid, pos, patch in scenario.layer_behaviour}
        self._start, self._end = start, end
        night = Window(frozenset(range(7)), scenario.night_start, scenario.night_end)
        self._night_default = Intervals(weekly_spans([night], scenario.timezone, start, end))
        self._night_window = night

    def number(self, user_id: str) -> int:
        n = self.index.get(user_id)
        if n is None:
            n = self.index[user_id] = len(self.index)
        return n

    def of(self, policy_id: str, position: int, user_id: str) -> Behaviour:
        key = (policy_id, position, user_id)
        b = self.behaviour.get(key)
        if b is None:
            b = self.scenario.default
            for k in ((None, position), (policy_id, position)):
                patch = self.layers.get(k)
                if patch is not None:
                    b = patch.over(b)
            person = self.scenario.people.get(user_id)
            if person is not None:
                b = person.behaviour.over(b)
            self.behaviour[key] = b
        return b

    def profile(
        self, policy_id: str, position: int, user_id: str
    ) -> tuple[float, float, float, int, list[float], list[float]]:
        """What the event loop needs about one person paged by one layer, in one tuple: ack probability,
        delay median and log-normal sigma, draw number, night edges, unavailable edges."""
        b = self.of(policy_id, position, user_id)
        median = max(0.0, b.ack_median_minutes)
        sigma = 0.0
        if b.ack_p90_minutes > b.ack_median_minutes > 0:
            sigma = math.log(b.ack_p90_minutes / b.ack_median_minutes) / _Z90
        return (
            b.ack_probability,
            median,
            sigma,
            self.number(user_id),
            self.nights(user_id).stamps,
            self.unavailable(user_id).stamps,
        )

    def unavailable(self, user_id: str) -> Intervals:
        iv = self.away.get(user_id)
        if iv is None:
            person = self.scenario.people.get(user_id)
            spans: list[tuple[datetime, datetime]] = []
            if person is not None and person.unavailable:
                tz = person.timezone or self.scenario.timezone
                spans = weekly_spans(person.unavailable, tz, self._start, self._end)
            iv = self.away[user_id] = Intervals(spans)
        return iv

    def nights(self, user_id: str) -> Intervals:
        iv = self.night.get(user_id)
        if iv is None:
            person = self.scenario.people.get(user_id)
            if person is None or person.timezone is None:
                iv = self._night_default
            else:
                iv = Intervals(weekly_spans([self._night_window], person.timezone, self._start, self._end))
            self.night[user_id] = iv
        return iv


@dataclass
class Run:
    """A scenario ready to run: its arrivals and the precomputed resolver and responders, shared by
    every part of a run (whoever runs the parts: one loop, or several processes, :mod:`engine.runtime.simulator`)."""

    scenario: Scenario
    seed: int
    incidents: Arrivals
    resolve: CachedResolver
    people: _Responders

    def new_report(self) -> SimulationReport:
        return SimulationReport(seed=self.seed, start=self.scenario.start, end=self.scenario.end)


def prepare(scenario: Scenario, seed: int = 0) -> Run:
    """Draw the arrivals for ``seed`` and precompute who is on call and who is available."""
    rng = random.Random(seed)
    incidents = draw_arrivals(scenario, rng)
    horizon = scenario.end + timedelta(days=2)  # escalations that start near the end run past it
    resolve = CachedResolver(
        scenario.schedules, scenario.active_user_ids, scenario.start - timedelta(days=1), horizon
    )
    people = _Responders(scenario, scenario.start - timedelta(days=1), horizon)
    return Run(scenario, seed, incidents, resolve, people)


def run_part(
    run: Run, numbers: Sequence[int], progress: Callable[[float], None] | None = None
) -> SimulationReport:
    """The event loop over the incidents numbered ``numbers`` (a part from :func:`split`, in time order)."""
    report = run.new_report()
    run_events(run, numbers, report, progress)
    return report


def finish(run: Run, report: SimulationReport) -> SimulationReport:
    """Complete a (merged) report: sorted times to acknowledge, and each layer's coverage gaps."""
    report.tta_seconds.sort()
    _coverage(run.scenario, run.resolve, run.people, report)
    return report


def split(count: int, workers: int) -> list[range]:
    """Incident numbers per worker, interleaved so every part spans the whole period (and the progress
    of part 0 stands for all of them). One part for small runs, where splitting costs more than it saves.

    Incidents never interact in this model (responders have no capacity limit), so the parts can run
    anywhere with the same incident numbers and therefore the same draws; merged
    (:meth:`SimulationReport.merge`), they equal the single-part report.
    """
    if workers <= 1 or count < 2_000:
        return [range(count)]
    return [range(k, count, workers) for k in range(workers)]


def simulate(
    scenario: Scenario, seed: int = 0, *, progress: Callable[[float], None] | None = None
) -> SimulationReport:
    """Run the scenario in this process, in one loop; deterministic for ``seed``.

    ``progress`` gets the fraction of the period done (a few hundred calls at most). The runtime's
    :func:`engine.runtime.simulator.simulate` gives the same report faster (several processes, the cyclic
    garbage collector off).
    """
    run = prepare(scenario, seed)
    return finish(run, run_part(run, range(len(run.incidents)), progress))


def _count_severities(arrivals: Arrivals, numbers: Sequence[int], into: dict[str, int]) -> None:
    """Add the part's incidents per severity to ``into``, severities in order of first arrival."""
    codes = arrivals.codes
    if isinstance(numbers, range):
        part = codes[numbers.start : numbers.stop : numbers.step]
    else:
        part = array("H", (codes[i] for i in numbers))
    firsts = []
    for code in range(len(arrivals.severities)):
        if code in part:
            firsts.append((part.index(code), code))
    for _, code in sorted(firsts):
        sev = arrivals.severities[code]
        into[sev] = into.get(sev, 0) + part.count(code)


def run_events(
    run: Run,
    numbers: Sequence[int],
    report: SimulationReport,
    progress: Callable[[float], None] | None = None,
) -> None:
    """The discrete-event loop proper: the incidents numbered ``numbers`` (in time order; their numbers in
    the whole run key the responder draws), added to ``report``.

    Only incidents still escalating are held (``live``: policy, escalation state, draw root, earliest
    acknowledgement queued, start); a finished incident leaves nothing behind but its share of the
    report's counts. Arrivals are merged in from a cursor, so the heap only holds the pending timeouts and
    acknowledgements. Heap entries are ``(instant, kind, seq, incident, detail)``: at the same instant a
    timeout (_DUE) comes before an acknowledgement (_ACK), as in a drill, and otherwise first in, first out.
    """
    scenario, resolve, people, arrivals = run.scenario, run.resolve, run.people, run.incidents
    heap: list[tuple[datetime, int, int, int, Any]] = []
    live: dict[int, list[Any]] = {}
    seq = 0
    origin, offsets, codes = arrivals.origin, arrivals.offsets, arrivals.codes
    plan_of = [scenario.policy_by_severity.get(sev) for sev in arrivals.severities]
    pages = report.pages
    night_pages = report.night_pages
    nobody = report.nobody_incidents
    tta = report.tta_seconds
    by_policy = report.exhausted_by_policy
    acked_at = report.acked_at_layer
    span = (scenario.end - scenario.start).total_seconds() or 1.0
    total = len(numbers)
    every = max(1, total // 200)
    pop, push = heapq.heappop, heapq.heappush
    begin, fire, acknowledge = esc.begin, esc.fire, esc.acknowledge
    # (policy, position, paged users) -> per user: id, then _Responders.profile
    crews: dict[tuple[str, int, tuple[str, ...]], tuple[tuple[Any, ...], ...]] = {}
    bisect, sqrt, log, cos, exp = bisect_right, math.sqrt, math.log, math.cos, math.exp
    minute, micro = timedelta(minutes=1), _MICRO
    seed_root = _mix(run.seed & _M64)
    cursor = 0
    steps = acked = acked_late = exhausted = not_paged = 0
    _count_severities(arrivals, numbers, report.by_severity)
    report.incidents += total
    upcoming = numbers[0] if total else 0  # the next arrival's incident number
    arriving = origin + micro * offsets[upcoming] if total else None
    while True:
        if arriving is not None and (not heap or arriving <= heap[0][0]):
            n = upcoming
            now = arriving
            cursor += 1
            if cursor < total:
                upcoming = numbers[cursor]
                arriving = origin + micro * offsets[upcoming]
            else:
                arriving = None
            if progress is not None and cursor % every == 0:
                progress(min(1.0, (now - scenario.start).total_seconds() / span))
            plan = plan_of[codes[n]]
            if plan is None:
                not_paged += 1
                continue
            x = (seed_root ^ n) + 0x9E3779B97F4A7C15 & _M64  # incident_key(seed, n), inlined
            x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 & _M64
            x = (x ^ x >> 27) * 0x94D049BB133111EB & _M64
            inc = live[n] = [plan, None, x ^ x >> 31, None, now]
            outcome = begin(plan, now, resolve)
        elif heap:
            now, kind, _, n, detail = pop(heap)
            inc = live.get(n)  # type: ignore[assignment]
            if inc is None:
                continue  # finished: a timeout or acknowledgement that no longer matters
            plan, state = inc[0], inc[1]
            if kind == _DUE:
                if state.generation != detail or state.state != "paging":
                    continue
                outcome = fire(state, plan, now, resolve)
            else:
                st = state.state
                if st != "paging" and st != "exhausted":
                    continue
                outcome = acknowledge(state, plan, now, detail)
                acked += 1
                if st == "exhausted":
                    acked_late += 1
                layer = state.step + 1
                acked_at[layer] = acked_at.get(layer, 0) + 1
                tta.append((now - inc[4]).total_seconds())
        else:
            break
        steps += 1
        new = outcome.state
        inc[1] = new
        ts: float | None = None
        for ev in outcome.events:
            page = ev.page
            if page is not None:
                position = page.position or 0
                users = page.user_ids
                crew = crews.get((plan.id, position, users))
                if crew is None:
                    crew = crews[(plan.id, position, users)] = tuple(
                        (uid, *people.profile(plan.id, position, uid)) for uid in users
                    )
                if ts is None:
                    ts = now.timestamp()
                root = inc[2]
                draw = page.round << 40 | position << 24
                for uid, prob, median, sigma, person, night_edges, away_edges in crew:
                    pages[uid] = pages.get(uid, 0) + 1
                    if bisect(night_edges, ts) & 1:
                        night_pages[uid] = night_pages.get(uid, 0) + 1
                    if away_edges and bisect(away_edges, ts) & 1:
                        continue
                    # decision_draws, inlined (with _mix): this is the hottest spot of the whole simulation
                    x = (root ^ (draw | person)) + 0x9E3779B97F4A7C15 & _M64
                    x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 & _M64
                    x = (x ^ x >> 27) * 0x94D049BB133111EB & _M64
                    key = x ^ x >> 31
                    if ((key >> 43) + 0.5) * _INV21 >= prob:
                        continue
                    u1 = (((key >> 22) & _MASK21) + 0.5) * _INV21
                    z = sqrt(-2.0 * log(u1)) * cos(_TAU * ((key & _MASK21) + 0.5) * _INV21)
                    delay = median * exp(sigma * z)  # minutes
                    # when = now + minute * delay, which rounds delay * 60e6 µs half to even exactly. Below
                    # 2**40 µs the float product is within 2**-13 of the exact one, so unless it is near a
                    # half, its nearest integer is the same number of µs: cheaper than timedelta * float.
                    us = 60_000_000.0 * delay
                    if us < 1e12 and -0.499 < us - (whole := round(us)) < 0.499:
                        when = now + micro * whole
                    else:
                        when = now + minute * delay
                    earliest = inc[3]
                    if earliest is None or when < earliest:  # a later ack could only ever be discarded
                        inc[3] = when
                        push(heap, (when, _ACK, seq, n, uid))
                        seq += 1
                continue
            what = ev.kind
            if what == "nobody_on_call":
                where = (plan.id, ev.data["position"])
                nobody[where] = nobody.get(where, 0) + 1
            elif what == "escalation_exhausted":
                exhausted += 1
                by_policy[plan.id] = by_policy.get(plan.id, 0) + 1
                if len(report.exhausted_examples) < 10:
                    report.exhausted_examples.append((inc[4], plan.id))
        st = new.state
        if st == "paging":
            due = new.due_at
            if due is not None:
                earliest = inc[3]
                if earliest is None or due <= earliest:  # an earlier acknowledgement makes it moot
                    push(heap, (due, _DUE, seq, n, new.generation))
                    seq += 1
        elif st != "exhausted" or inc[3] is None:
            del live[n]  # nothing can happen to it any more: only its counts remain
    report.engine_steps += steps
    report.acknowledged += acked
    report.acked_after_exhaustion += acked_late
    report.exhausted += exhausted
    report.not_paged += not_paged
    if progress is not None:
        progress(1.0)


def _coverage(
    scenario: Scenario, resolve: CachedResolver, people: _Responders, report: SimulationReport
) -> None:
    """Minutes of the period during which each used policy layer would page nobody (nobody on call), or
    only people who are unavailable."""
    start, end = scenario.start.astimezone(UTC), scenario.end.astimezone(UTC)
    seen: set[str] = set()
    for plan in scenario.policy_by_severity.values():
        if plan is None or plan.id in seen:
            continue
        seen.add(plan.id)
        for layer in plan.layers:
            target = layer.target
            points = {start, end}
            if target.type == "schedule":
                points.update(resolve.change_points(target.schedule_id or ""))
                candidates: set[str] = set()
                for who in resolve._targets.get(target.schedule_id or "", []):
                    candidates.update(who)
            else:
                candidates = set(target.user_ids)
            for uid in candidates:
                points.update(people.unavailable(uid).boundaries())
            edges = sorted(p for p in points if start <= p <= end)
            empty = away = 0.0
            for a, b in zip(edges, edges[1:], strict=False):
                who = resolve(target, a)
                mins = (b - a).total_seconds() / 60
                if not who:
                    empty += mins
                elif all(people.unavailable(u).contains(a) for u in who):
                    away += mins
            key = (plan.id, layer.position)
            report.nobody_minutes[key] = empty
            report.nobody_available_minutes[key] = away


def local_midnight(day: date, tz_name: str) -> datetime:
    """Midnight at the start of ``day`` in ``tz_name``, as a UTC instant."""
    return datetime.combine(day, time(0, 0), tzinfo=rotation.validate_timezone(tz_name)).astimezone(UTC)
