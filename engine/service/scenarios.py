"""Simulation scenarios: a TOML file (``examples/scenario.toml``, docs/SIMULATION.md) read, checked and tied
to an organisation's policies, schedules and people, then run by :func:`engine.simulation.simulate`.

Every key is checked; a mistake raises :class:`engine.errors.ValidationError` naming the key
(``responders.person[2].user: no active user 'bobby@example.com'``), so the command line prints one line.
The database is only read.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from engine import rotation
from engine import simulation as sim
from engine.errors import NotFound, ValidationError
from engine.model import LONGEST_WAIT_MINUTES, SEVERITIES, Policy, Schedule
from engine.service import Ctx
from engine.service.orgs import display_name, find_user
from engine.service.policies import find_policy, load_policy_model
from engine.service.schedules import load_schedule_model
from engine.timefmt import to_iso
from engine.timeparse import Word, parse_clock_time, parse_local_instant
from storage.queries import orgs as org_queries

_TOP = {"period", "arrivals", "severity", "policy", "night", "responders"}
_BEHAVIOUR = {"ack_probability", "ack_median_minutes", "ack_p90_minutes"}
_DAY_NAMES = {name: i for i, name in enumerate(sim.WEEKDAYS)}


def _fail(key: str, message: str) -> ValidationError:
    return ValidationError(f"{key}: {message}", field=key)


def _table(data: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(key, "must be a table")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(key, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return data


def _number(value: Any, key: str, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, "must be a number")
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise _fail(key, f"must be {bound}, got {value}")
    return float(value)


def _clock_time(value: Any, key: str) -> time:
    try:
        return parse_clock_time(value)
    except ValueError as exc:
        raise _fail(key, str(exc)) from None


def _instant(value: Any, key: str, tz_name: str, now: datetime | None = None) -> datetime:
    """A TOML datetime or date, or a string (:func:`engine.timeparse.parse_local_instant`): a date means
    midnight in the scenario's zone; ``"today"`` (allowed where ``now`` is given, the injected clock's)
    is midnight at the start of today."""
    words: tuple[Word, ...] = ("today",) if now is not None else ()
    try:
        return parse_local_instant(value, tz_name, now=now, words=words).instant
    except ValueError as exc:
        raise _fail(key, str(exc)) from None


def _weights(value: Any, key: str, count: int) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != count:
        raise _fail(key, f"must be a list of {count} numbers")
    out = tuple(_number(v, f"{key}[{i}]") for i, v in enumerate(value))
    if not any(out):
        raise _fail(key, "must not be all zero")
    return out


def _days(value: Any, key: str) -> frozenset[int]:
    """``"daily"``, ``"weekdays"``, ``"weekends"``, ``"mon-fri"``, ``"sat,sun"``, or a list of day names."""
    if isinstance(value, list):
        parts = [str(v) for v in value]
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("daily", "every day", "all"):
            return frozenset(range(7))
        if text == "weekdays":
            return frozenset(range(5))
        if text == "weekends":
            return frozenset((5, 6))
        parts = [p.strip() for p in text.split(",")]
    else:
        raise _fail(key, 'must be like "mon-fri", "sat,sun", "daily" or a list of day names')
    days: set[int] = set()
    for part in parts:
        lo, _, hi = part.strip().lower().partition("-")
        if lo[:3] not in _DAY_NAMES or (hi and hi[:3] not in _DAY_NAMES):
            raise _fail(key, f"unknown day {part!r} (use mon, tue, wed, thu, fri, sat, sun)")
        a = _DAY_NAMES[lo[:3]]
        b = _DAY_NAMES[hi[:3]] if hi else a
        d = a
        while True:
            days.add(d)
            if d == b:
                break
            d = (d + 1) % 7
    return frozenset(days)


def _window(value: Any, key: str, tz_name: str) -> sim.Window:
    data = _table(value, key, {"days", "from", "to", "start", "end"})
    if "start" in data or "end" in data:
        if "start" not in data or "end" not in data:
            raise _fail(key, "an absolute window needs both start and end")
        a, b = _instant(data["start"], f"{key}.start", tz_name), _instant(data["end"], f"{key}.end", tz_name)
        if b <= a:
            raise _fail(key, "end must be after start")
        return sim.Window(start_at=a, end_at=b)
    if "from" not in data or "to" not in data:
        raise _fail(key, 'a weekly window needs from and to ("23:00", "07:00"), and optionally days')
    start = _clock_time(data["from"], f"{key}.from")
    end = _clock_time(data["to"], f"{key}.to")
    if start == end:
        raise _fail(key, "from and to must differ")
    return sim.Window(_days(data.get("days", "daily"), f"{key}.days"), start, end)


def _patch(data: dict[str, Any], key: str) -> sim.BehaviourPatch:
    prob = data.get("ack_probability")
    median = data.get("ack_median_minutes")
    p90 = data.get("ack_p90_minutes")
    return sim.BehaviourPatch(
        None if prob is None else _number(prob, f"{key}.ack_probability", high=1.0),
        None if median is None else _number(median, f"{key}.ack_median_minutes", high=LONGEST_WAIT_MINUTES),
        None if p90 is None else _number(p90, f"{key}.ack_p90_minutes", high=LONGEST_WAIT_MINUTES),
    )


def parse_scenario_text(text: str, source: str = "scenario") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{source} is not valid TOML: {exc}") from None


def load_scenario(ctx: Ctx, path: str | Path) -> sim.Scenario:
    """Read the scenario file and resolve its names against ``ctx``'s organisation."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {p}: {exc.strerror or exc}") from None
    return build_scenario(ctx, parse_scenario_text(text, str(p)))


def build_scenario(ctx: Ctx, data: dict[str, Any]) -> sim.Scenario:
    _table(data, "scenario", _TOP)
    for required in ("period", "arrivals", "policy"):
        if required not in data:
            raise _fail(required, "is required")

    period = _table(data["period"], "period", {"start", "weeks", "days", "timezone"})
    tz_name = period.get("timezone", "UTC")
    try:
        rotation.validate_timezone(tz_name)
    except ValueError as exc:
        raise _fail("period.timezone", str(exc)) from None
    if "start" not in period:
        raise _fail("period.start", "is required (a date such as 2026-04-06)")
    start = _instant(period["start"], "period.start", tz_name, ctx.now())
    if "weeks" in period and "days" in period:
        raise _fail("period", "give weeks or days, not both")
    days = (
        _number(period["weeks"], "period.weeks", low=0.01, high=520) * 7
        if "weeks" in period
        else _number(period.get("days", 28), "period.days", low=0.01, high=3650)
    )
    end = start + timedelta(days=days)

    arr = _table(data["arrivals"], "arrivals", {"per_week", "per_day", "by_hour", "by_weekday"})
    if ("per_week" in arr) == ("per_day" in arr):
        raise _fail("arrivals", "give exactly one of per_week or per_day")
    per_week = (
        _number(arr["per_week"], "arrivals.per_week", high=10_000_000)
        if "per_week" in arr
        else _number(arr["per_day"], "arrivals.per_day", high=1_000_000) * 7
    )
    by_hour = _weights(arr["by_hour"], "arrivals.by_hour", 24) if "by_hour" in arr else (1.0,) * 24
    by_weekday = _weights(arr["by_weekday"], "arrivals.by_weekday", 7) if "by_weekday" in arr else (1.0,) * 7

    sev_data = _table(data.get("severity", {"high": 1}), "severity", set(SEVERITIES))
    mix = tuple((s, _number(sev_data[s], f"severity.{s}")) for s in SEVERITIES if s in sev_data)
    if not mix or not any(w for _, w in mix):
        raise _fail("severity", "needs at least one severity with a weight above zero")

    pol_data = _table(data["policy"], "policy", set(SEVERITIES))
    policies: dict[str, Policy | None] = {}
    schedules: dict[str, Schedule] = {}
    by_name: dict[str, Policy] = {}
    for sev, _ in mix:
        ident = pol_data.get(sev)
        if ident is None:
            policies[sev] = None  # not paged
            continue
        if not isinstance(ident, str):
            raise _fail(f"policy.{sev}", "must be a policy name or id")
        try:
            pid = find_policy(ctx, ident)["id"]
        except NotFound:
            raise _fail(f"policy.{sev}", f"no escalation policy {ident!r} in this organisation") from None
        plan = by_name.get(pid) or load_policy_model(ctx.db, pid)
        by_name[pid] = plan
        policies[sev] = plan
        for layer in plan.layers:
            sid = layer.target.schedule_id
            if layer.target.type == "schedule" and sid and sid not in schedules:
                try:
                    schedules[sid] = load_schedule_model(ctx.db, sid)
                except NotFound:
                    pass
    for sev in pol_data:
        if sev not in policies:
            raise _fail(f"policy.{sev}", f"severity {sev!r} has no weight in [severity]")

    night = _table(data.get("night", {}), "night", {"start", "end"})
    night_start = _clock_time(night.get("start", "22:00"), "night.start")
    night_end = _clock_time(night.get("end", "07:00"), "night.end")

    users = org_queries.active_user_rows(ctx.db, ctx.org_id)
    active = frozenset(r["id"] for r in users)
    names = {r["id"]: display_name(r) for r in users}

    resp = _table(data.get("responders", {}), "responders", _BEHAVIOUR | {"layer", "person"})
    default = _patch(resp, "responders").over(sim.Behaviour())
    layer_rules: list[tuple[str | None, int, sim.BehaviourPatch]] = []
    for i, item in enumerate(resp.get("layer", [])):
        key = f"responders.layer[{i + 1}]"
        entry = _table(item, key, _BEHAVIOUR | {"position", "policy"})
        if "position" not in entry:
            raise _fail(key, "needs position (1 for the first layer)")
        position = int(_number(entry["position"], f"{key}.position", low=1, high=100))
        only: str | None = None
        if "policy" in entry:
            try:
                only = find_policy(ctx, str(entry["policy"]))["id"]
            except NotFound:
                raise _fail(f"{key}.policy", f"no escalation policy {entry['policy']!r}") from None
        layer_rules.append((only, position, _patch(entry, key)))
    people: dict[str, sim.Person] = {}
    for i, item in enumerate(resp.get("person", [])):
        key = f"responders.person[{i + 1}]"
        entry = _table(item, key, _BEHAVIOUR | {"user", "timezone", "unavailable"})
        ident = entry.get("user")
        try:
            if not isinstance(ident, str):
                raise NotFound("user", repr(ident))
            uid = str(find_user(ctx, ident)["id"])  # by id or email, as everywhere people name a person
        except NotFound:
            raise _fail(f"{key}.user", f"no active user {ident!r} (use an email or a user id)") from None
        tz = entry.get("timezone")
        if tz is not None:
            try:
                rotation.validate_timezone(tz)
            except ValueError as exc:
                raise _fail(f"{key}.timezone", str(exc)) from None
        windows = entry.get("unavailable", [])
        if not isinstance(windows, list):
            raise _fail(f"{key}.unavailable", "must be a list of windows")
        people[uid] = sim.Person(
            uid,
            names[uid],
            tz,
            _patch(entry, key),
            tuple(_window(w, f"{key}.unavailable[{j + 1}]", tz or tz_name) for j, w in enumerate(windows)),
        )
    return sim.Scenario(
        start=start,
        end=end,
        timezone=tz_name,
        per_week=per_week,
        by_hour=by_hour,
        by_weekday=by_weekday,
        severity_mix=mix,
        policy_by_severity=policies,
        schedules=schedules,
        active_user_ids=active,
        names=names,
        default=default,
        layer_behaviour=tuple(layer_rules),
        people=people,
        night_start=night_start,
        night_end=night_end,
    )


def report_wire(scenario: sim.Scenario, report: sim.SimulationReport) -> dict[str, Any]:
    """The report in wire form (camelCase, names beside ids): what ``oncall simulate --json`` prints."""
    names = scenario.names
    plans = {p.id: p for p in scenario.policy_by_severity.values() if p is not None}
    # Everyone a used policy can page, so a person who was never paged still shows as 0.
    involved: set[str] = set(report.pages)
    for plan in plans.values():
        for layer in plan.layers:
            if layer.target.type == "users":
                involved.update(u for u in layer.target.user_ids if u in scenario.active_user_ids)
            else:
                sched = scenario.schedules.get(layer.target.schedule_id or "")
                if sched is not None:
                    for rl in sched.layers:
                        involved.update(u for u in rl.participant_ids if u in scenario.active_user_ids)
                    involved.update(
                        o.user_id for o in sched.overrides if o.user_id in scenario.active_user_ids
                    )
    people = sorted(involved, key=lambda u: (-report.pages.get(u, 0), names.get(u, u)))
    layers = []
    for plan in plans.values():
        for layer in plan.layers:
            key = (plan.id, layer.position)
            layers.append(
                {
                    "policy": plan.name,
                    "policyId": plan.id,
                    "position": layer.position,
                    "nobodyOnCallMinutes": round(report.nobody_minutes.get(key, 0.0), 1),
                    "nobodyAvailableMinutes": round(report.nobody_available_minutes.get(key, 0.0), 1),
                    "incidentsFindingNobody": report.nobody_incidents.get(key, 0),
                }
            )

    def seconds(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "seed": report.seed,
        "start": to_iso(scenario.start),
        "end": to_iso(scenario.end),
        "timezone": scenario.timezone,
        "incidents": report.incidents,
        "bySeverity": {sev: report.by_severity.get(sev, 0) for sev, _ in scenario.severity_mix},
        "notPaged": report.not_paged,
        "acknowledged": report.acknowledged,
        "ackedAtLayer": {str(k): v for k, v in sorted(report.acked_at_layer.items())},
        "exhausted": report.exhausted,
        "ackedAfterExhaustion": report.acked_after_exhaustion,
        "exhaustedByPolicy": {plans[pid].name: n for pid, n in sorted(report.exhausted_by_policy.items())},
        "exhaustedExamples": [
            {"startedAt": to_iso(at), "policy": plans[pid].name} for at, pid in report.exhausted_examples
        ],
        "timeToAcknowledgeSeconds": {
            "p50": seconds(report.tta(50)),
            "p95": seconds(report.tta(95)),
            "max": seconds(report.tta(100)),
        },
        "people": [
            {
                "userId": u,
                "name": names.get(u, u),
                "pages": report.pages.get(u, 0),
                "nightPages": report.night_pages.get(u, 0),
            }
            for u in people
        ],
        "layers": layers,
        "engineSteps": report.engine_steps,
    }


def run_scenario(
    ctx: Ctx,
    path: str | Path,
    seed: int,
    *,
    progress: Callable[[float], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Load, simulate, and return the report in wire form."""
    scenario = load_scenario(ctx, path)
    report = simulate(scenario, seed, progress=progress, workers=workers)
    return report_wire(scenario, report)


def simulate(
    scenario: sim.Scenario,
    seed: int,
    *,
    progress: Callable[[float], None] | None = None,
    workers: int = 1,
) -> sim.SimulationReport:
    """Run a loaded scenario (:mod:`engine.runtime.simulator`: ``workers`` forked processes); the report
    is deterministic for ``seed`` whatever ``workers`` is."""
    from engine.runtime import simulator

    return simulator.simulate(scenario, seed, progress=progress, workers=workers)
