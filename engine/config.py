"""Configuration as code: the on-call setup as one document, and the plan that brings a database to it.

Pure (no I/O, no clock reads): the service layer (engine/service/config.py) reads the database into a
:class:`Config`, parses a file into another, and asks :func:`plan` for the difference; it then applies the
plan through the use cases in one transaction. docs/CONFIG.md documents the format.

A document is a mapping with ``version = 1`` and up to six sections (:data:`SECTIONS`): ``people``,
``schedules``, ``policies``, ``integrations``, ``heartbeats`` and ``notification_rules``. Objects refer to
each other by name or email, never by id: a person by ``email``, a schedule by ``name`` (unique in an
organisation), a rotation layer by ``name`` within its schedule, a policy, an integration and a heartbeat
by ``name``; an escalation layer by its place in its policy's list, an override by ``(person, start,
end)``, a person's notification rules by the person, a contact method by its channel and masked address
(:class:`NotificationRulesSpec`). Secrets (URL tokens, contact method addresses) are never in a document.

A section that is present is **managed**: the file is the whole truth for that kind of object, so an
object of that kind absent from the file is deleted (a person is removed). A section left out entirely
is not managed: nothing of that kind is created, changed or deleted. Past overrides are history and are
never managed: only overrides that have not yet ended (``end > now``) are exported, planned and deleted.

Adding a section: a spec dataclass here, its parsing in
:func:`parse`, its canonical form in :func:`to_data`, its diff in :func:`plan` (in dependency order),
and in engine/service/config.py its reading (``current``) and its ``_apply_*`` step; docs/CONFIG.md
lists the steps.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import tomli_w
import yaml

from engine.timefmt import to_iso
from engine.timeparse import parse_iso

__all__ = [
    "FORMATS",
    "VERSION",
    "Change",
    "Config",
    "ConfigInvalid",
    "EscalationLayerSpec",
    "HeartbeatSpec",
    "IntegrationSpec",
    "NotificationRulesSpec",
    "OverrideSpec",
    "Person",
    "PolicySpec",
    "Problem",
    "RotationLayerSpec",
    "RuleStepSpec",
    "ScheduleSpec",
    "SelectorSpec",
    "dumps",
    "loads",
    "parse",
    "plan",
    "references",
    "to_data",
]

VERSION = 1
SECTIONS = ("people", "schedules", "policies", "integrations", "heartbeats", "notification_rules")
FORMATS = ("toml", "yaml")
Format = Literal["toml", "yaml"]
Action = Literal["create", "change", "delete"]
ROLES = ("org:admin", "org:member")
ROTATION_TYPES = ("daily", "weekly", "custom")
ROTATION_LENGTHS = {"daily": 1, "weekly": 7}
INTEGRATION_KINDS = ("alertmanager", "grafana", "events")
SEVERITIES = ("critical", "high", "medium", "low")
DEFAULT_SEVERITY = "high"
DEFAULT_GRACE_MINUTES = 5
URGENCIES = ("high", "low")


# --------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Person:
    email: str  # lower-case; the key
    first_name: str | None = None
    last_name: str | None = None
    role: str = "org:member"
    id: str | None = None  # set on objects read from the database


@dataclass(frozen=True)
class RotationLayerSpec:
    name: str  # the key, within its schedule
    rotation_type: str
    rotation_length_days: int
    handoff_time: str  # HH:MM in the schedule's zone
    effective_from: datetime  # aware, UTC
    effective_until: datetime | None
    participants: tuple[str, ...]  # emails, in rotation order
    id: str | None = None


@dataclass(frozen=True)
class OverrideSpec:
    person: str  # email
    start: datetime
    end: datetime
    note: str | None = None
    id: str | None = None

    @property
    def key(self) -> tuple[str, datetime, datetime]:
        return (self.person, self.start, self.end)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str  # the key
    timezone: str
    description: str | None = None
    layers: tuple[RotationLayerSpec, ...] = ()  # in position order (the first bears the owner)
    overrides: tuple[OverrideSpec, ...] = ()
    id: str | None = None


@dataclass(frozen=True)
class EscalationLayerSpec:
    """A policy layer: ``schedule`` (a schedule's name) or ``users`` (emails), exactly one of them."""

    ack_timeout_minutes: int
    schedule: str | None = None
    users: tuple[str, ...] = ()
    id: str | None = None

    @property
    def target_text(self) -> str:
        return (
            f"schedule {_q(self.schedule)}" if self.schedule is not None else "users " + ", ".join(self.users)
        )


@dataclass(frozen=True)
class PolicySpec:
    name: str  # the key
    description: str | None = None
    repeat: int = 0
    repage_after_minutes: int | None = None
    layers: tuple[EscalationLayerSpec, ...] = ()  # position 1 first
    id: str | None = None


@dataclass(frozen=True)
class SelectorSpec:
    """A routing selector: all ``matchers`` (label, value) must match. A routing field that is None is
    inherited from the integration's default; ``""`` for ``policy`` or ``component`` means explicitly none."""

    matchers: tuple[tuple[str, str], ...]
    policy: str | None = None
    component: str | None = None
    severity: str | None = None

    @property
    def text(self) -> str:
        parts = [" ".join(f"{k}={v}" for k, v in self.matchers)]
        if self.policy is not None:
            parts.append(f"policy {_q(self.policy)}" if self.policy else "no policy")
        if self.component is not None:
            parts.append(f"component {_q(self.component)}" if self.component else "no component")
        if self.severity is not None:
            parts.append(f"severity {self.severity}")
        return " -> ".join(parts[:1]) + (" -> " + ", ".join(parts[1:]) if parts[1:] else "")


@dataclass(frozen=True)
class IntegrationSpec:
    """An inbound integration (docs/ALERTS.md) by ``name``; its URL token is never part of a document."""

    name: str  # the key
    kind: str
    policy: str | None = None  # the default routing's escalation policy, by name (None: none)
    component: str | None = None
    severity: str = DEFAULT_SEVERITY
    severity_map: tuple[tuple[str, str], ...] = ()  # (label, severity), sorted by label
    selectors: tuple[SelectorSpec, ...] = ()  # in matching order
    auto_resolve: bool = True
    flap_window_seconds: int = 0
    id: str | None = None


@dataclass(frozen=True)
class HeartbeatSpec:
    """A heartbeat monitor (docs/ALERTS.md, "Heartbeats") by ``name``; its ping token is never exported."""

    name: str  # the key
    policy: str  # escalation policy, by name
    interval_minutes: int
    grace_minutes: int = DEFAULT_GRACE_MINUTES
    severity: str = DEFAULT_SEVERITY
    id: str | None = None


@dataclass(frozen=True)
class RuleStepSpec:
    """One notification rule step: the contact method ``method`` (a reference, see
    :class:`NotificationRulesSpec`), ``delay_minutes`` after the page."""

    method: str
    delay_minutes: int = 0

    @property
    def text(self) -> str:
        return f"{self.method} after {self.delay_minutes}m"


@dataclass(frozen=True)
class NotificationRulesSpec:
    """A person's notification rules per urgency (steps in firing order: by delay, then as listed) and
    their shift reminder settings. A contact method is referenced as ``channel`` (``log``) or ``channel
    masked-address`` (``webhook https://hooks.example.com/…``), with `` #2``, `` #3`` for a person's
    second, third method of the same reference (in the order they were added): the methods themselves
    hold secrets and are never in a document (docs/CONFIG.md)."""

    person: str  # email; the key
    high: tuple[RuleStepSpec, ...] = ()
    low: tuple[RuleStepSpec, ...] = ()
    before_minutes: int | None = None
    at_start: bool = False
    at_end: bool = False
    id: str | None = None  # the person's id, on objects read from the database

    @property
    def empty(self) -> bool:
        return not self.high and not self.low and self.reminders == (None, False, False)

    @property
    def reminders(self) -> tuple[int | None, bool, bool]:
        return (self.before_minutes, self.at_start, self.at_end)


@dataclass(frozen=True)
class Config:
    """A whole setup. A section that is None was left out of the file: it is not managed.

    ``contact_methods`` is never read from a file: the database's contact method references per person's
    email (reference -> the method's id), which a file's notification rules may name."""

    people: tuple[Person, ...] | None = None
    schedules: tuple[ScheduleSpec, ...] | None = None
    policies: tuple[PolicySpec, ...] | None = None
    integrations: tuple[IntegrationSpec, ...] | None = None
    heartbeats: tuple[HeartbeatSpec, ...] | None = None
    notification_rules: tuple[NotificationRulesSpec, ...] | None = None
    contact_methods: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Something wrong in a document: ``path`` locates it (``schedules[2].layers[0].participants``),
    ``line`` is the file's 1-based line where it could be found."""

    path: str
    message: str
    line: int | None = None
    value: str | None = None  # the offending text, used to find the line

    def text(self, source: str = "") -> str:
        where = f"{source}:{self.line}: " if self.line else (f"{source}: " if source else "")
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"

    def wire(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "line": self.line}


class ConfigInvalid(ValueError):
    """The document cannot be read or does not have the expected shape; ``problems`` says where."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text() for p in problems))
        self.problems = problems


# --------------------------------------------------------------------------------------- text formats


def format_for(filename: str, default: Format = "toml") -> Format:
    """``yaml`` for ``*.yaml``/``*.yml``, ``toml`` for ``*.toml``, else ``default``."""
    lower = filename.lower()
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    if lower.endswith(".toml"):
        return "toml"
    return default


def loads(text: str, fmt: Format) -> Any:
    """The document's data. Raises :class:`ConfigInvalid` with the parser's line for a syntax error."""
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            raise ConfigInvalid(
                [Problem("", f"not valid TOML: {exc}", int(found.group(1)) if found else None)]
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(exc).split())
        raise ConfigInvalid([Problem("", f"not valid YAML: {message}", line)]) from None


HEADER = (
    "oncall configuration: people, schedules, escalation policies, integrations, heartbeats and notification\n"
    "rules, by name (never ids, tokens or contact method addresses).\n"
    "Check with `oncall lint FILE`, preview with `oncall apply FILE`, apply with `oncall apply FILE --yes`.\n"
    "A section present here is managed: objects of that kind missing from it are deleted. docs/CONFIG.md.\n"
)


def dumps(data: Mapping[str, Any], fmt: Format) -> str:
    """``data`` (as :func:`to_data` builds it) as TOML or YAML text, with a comment header."""
    comment = "".join(f"# {line}\n" for line in HEADER.splitlines())
    if fmt == "toml":
        return comment + tomli_w.dumps(dict(data))
    return comment + yaml.safe_dump(
        dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000
    )


# --------------------------------------------------------------------------------------------- parsing


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(path, message, value=None if value is None else str(value)))

    def table(self, value: Any, path: str, keys: Iterable[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "must be a table (a mapping)")
            return None
        allowed = set(keys)
        for k in value:
            if k not in allowed:
                where = f"{path}.{k}" if path else str(k)
                self.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})", k)
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "must be a list")
            return []
        return value

    def text(self, t: dict[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
        value = t.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "is required")
            return None
        if not isinstance(value, str):
            hint = " (quote it in YAML)" if key == "handoff_time" else ""
            self.fail(f"{path}.{key}", f"must be a string{hint}", value)
            return None
        return value

    def integer(self, t: dict[str, Any], key: str, path: str, default: int | None) -> int | None:
        value = t.get(key, default)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{path}.{key}", "must be a whole number", value)
            return default
        return value

    def instant(self, t: dict[str, Any], key: str, path: str, *, required: bool = True) -> datetime | None:
        value = t.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}", "is required")
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                self.fail(f"{path}.{key}", "needs a timezone (Z or an offset)", value)
                return None
            return parse_iso(value.isoformat())
        try:
            return parse_iso(value)
        except ValueError as exc:
            self.fail(f"{path}.{key}", str(exc), value)
            return None

    def flag(self, t: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = t.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", "must be true or false", value)
            return default
        return value

    def choice(
        self, t: dict[str, Any], key: str, path: str, choices: tuple[str, ...], *, required: bool = False
    ) -> str | None:
        value = self.text(t, key, path, required=required)
        if value is not None and value not in choices:
            self.fail(f"{path}.{key}", f"must be one of {', '.join(choices)}", value)
            return None
        return value

    def emails(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(path, "must be a non-empty list of email addresses")
            return ()
        return tuple(v.strip().lower() for v in value)

    def unique(self, keys: list[Any], path: str, what: str) -> None:
        seen: set[Any] = set()
        for n, k in enumerate(keys):
            if k in seen:
                self.fail(
                    f"{path}[{n}]",
                    f"{what} {_q(k) if isinstance(k, str) else _show(k)} is listed twice",
                    k if isinstance(k, str) else None,
                )
            seen.add(k)


def parse(data: Any) -> Config:
    """A document's data (from :func:`loads`) as a :class:`Config`. Checks the shape only (keys, types,
    required fields, duplicates); the values' own rules (zones, limits, HH:MM) are the use cases', which
    :func:`engine.service.config.lint_text` runs without writing. Raises :class:`ConfigInvalid`."""
    r = _Reader()
    top = r.table(data, "", ("version", *SECTIONS))
    if top is None:
        raise ConfigInvalid(r.problems or [Problem("", "the document must be a table")])
    version = top.get("version", VERSION)
    if version != VERSION:
        r.fail("version", f"must be {VERSION} (this oncall reads version {VERSION} files)", version)
    people = _people(r, top) if "people" in top else None
    schedules = _schedules(r, top) if "schedules" in top else None
    policies = _policies(r, top) if "policies" in top else None
    integrations = _integrations(r, top) if "integrations" in top else None
    heartbeats = _heartbeats(r, top) if "heartbeats" in top else None
    rules = _notification_rules(r, top) if "notification_rules" in top else None
    if r.problems:
        raise ConfigInvalid(r.problems)
    return Config(
        people=people,
        schedules=schedules,
        policies=policies,
        integrations=integrations,
        heartbeats=heartbeats,
        notification_rules=rules,
    )


def _people(r: _Reader, top: dict[str, Any]) -> tuple[Person, ...]:
    out: list[Person] = []
    for n, raw in enumerate(r.items(top["people"], "people")):
        path = f"people[{n}]"
        t = r.table(raw, path, ("email", "first_name", "last_name", "role"))
        if t is None:
            continue
        email = r.text(t, "email", path)
        role = r.text(t, "role", path, required=False) or "org:member"
        if role not in ROLES:
            r.fail(f"{path}.role", f"must be one of {', '.join(ROLES)}", role)
        if email is not None:
            out.append(
                Person(
                    email=email.strip().lower(),
                    first_name=r.text(t, "first_name", path, required=False),
                    last_name=r.text(t, "last_name", path, required=False),
                    role=role,
                )
            )
    r.unique([p.email for p in out], "people", "person")
    return tuple(out)


def _schedules(r: _Reader, top: dict[str, Any]) -> tuple[ScheduleSpec, ...]:
    out: list[ScheduleSpec] = []
    for n, raw in enumerate(r.items(top["schedules"], "schedules")):
        path = f"schedules[{n}]"
        t = r.table(raw, path, ("name", "timezone", "description", "layers", "overrides"))
        if t is None:
            continue
        layers = []
        for i, lraw in enumerate(r.items(t.get("layers"), f"{path}.layers")):
            lp = f"{path}.layers[{i}]"
            lt = r.table(
                lraw,
                lp,
                (
                    "name",
                    "rotation_type",
                    "rotation_length_days",
                    "handoff_time",
                    "effective_from",
                    "effective_until",
                    "participants",
                ),
            )
            if lt is None:
                continue
            rtype = r.text(lt, "rotation_type", lp)
            if rtype is not None and rtype not in ROTATION_TYPES:
                r.fail(f"{lp}.rotation_type", f"must be one of {', '.join(ROTATION_TYPES)}", rtype)
            length = r.integer(lt, "rotation_length_days", lp, ROTATION_LENGTHS.get(rtype or ""))
            if length is None and rtype == "custom":
                r.fail(f"{lp}.rotation_length_days", "is required for a custom rotation")
            lname = r.text(lt, "name", lp)
            handoff = r.text(lt, "handoff_time", lp)
            start = r.instant(lt, "effective_from", lp)
            until = r.instant(lt, "effective_until", lp, required=False)
            participants = r.emails(lt.get("participants"), f"{lp}.participants")
            if lname and rtype and handoff and start and participants and length is not None:
                layers.append(RotationLayerSpec(lname, rtype, length, handoff, start, until, participants))
        r.unique([la.name for la in layers], f"{path}.layers", "rotation layer")
        overrides = []
        for i, oraw in enumerate(r.items(t.get("overrides"), f"{path}.overrides")):
            op = f"{path}.overrides[{i}]"
            ot = r.table(oraw, op, ("person", "start", "end", "note"))
            if ot is None:
                continue
            person = r.text(ot, "person", op)
            start = r.instant(ot, "start", op)
            end = r.instant(ot, "end", op)
            note = r.text(ot, "note", op, required=False)
            if person and start and end:
                overrides.append(OverrideSpec(person.strip().lower(), start, end, note))
        r.unique([o.key for o in overrides], f"{path}.overrides", "override")
        name = r.text(t, "name", path)
        tz = r.text(t, "timezone", path)
        if name and tz:
            out.append(
                ScheduleSpec(
                    name=name,
                    timezone=tz,
                    description=r.text(t, "description", path, required=False),
                    layers=tuple(layers),
                    overrides=tuple(sorted(overrides, key=lambda o: (o.start, o.end, o.person))),
                )
            )
    r.unique([s.name for s in out], "schedules", "schedule")
    return tuple(out)


def _policies(r: _Reader, top: dict[str, Any]) -> tuple[PolicySpec, ...]:
    out: list[PolicySpec] = []
    for n, raw in enumerate(r.items(top["policies"], "policies")):
        path = f"policies[{n}]"
        t = r.table(raw, path, ("name", "description", "repeat", "repage_after_minutes", "layers"))
        if t is None:
            continue
        layers = []
        for i, lraw in enumerate(r.items(t.get("layers"), f"{path}.layers")):
            lp = f"{path}.layers[{i}]"
            lt = r.table(lraw, lp, ("ack_timeout_minutes", "schedule", "users"))
            if lt is None:
                continue
            timeout = r.integer(lt, "ack_timeout_minutes", lp, None)
            if timeout is None:
                r.fail(f"{lp}.ack_timeout_minutes", "is required")
            has_schedule, has_users = "schedule" in lt, "users" in lt
            if has_schedule == has_users:
                r.fail(lp, "needs exactly one target: schedule = NAME or users = [EMAIL, ...]")
                continue
            schedule = r.text(lt, "schedule", lp) if has_schedule else None
            users = r.emails(lt["users"], f"{lp}.users") if has_users else ()
            if timeout is not None and (schedule or users):
                layers.append(EscalationLayerSpec(timeout, schedule, users))
        name = r.text(t, "name", path)
        if name:
            out.append(
                PolicySpec(
                    name=name,
                    description=r.text(t, "description", path, required=False),
                    repeat=r.integer(t, "repeat", path, 0) or 0,
                    repage_after_minutes=r.integer(t, "repage_after_minutes", path, None),
                    layers=tuple(layers),
                )
            )
    r.unique([p.name for p in out], "policies", "policy")
    return tuple(out)


def _integrations(r: _Reader, top: dict[str, Any]) -> tuple[IntegrationSpec, ...]:
    out: list[IntegrationSpec] = []
    keys = (
        "name",
        "kind",
        "policy",
        "component",
        "severity",
        "severity_map",
        "selectors",
        "auto_resolve",
        "flap_window_seconds",
    )
    for n, raw in enumerate(r.items(top["integrations"], "integrations")):
        path = f"integrations[{n}]"
        t = r.table(raw, path, keys)
        if t is None:
            continue
        name = r.text(t, "name", path)
        kind = r.choice(t, "kind", path, INTEGRATION_KINDS, required=True)
        severity_map: list[tuple[str, str]] = []
        smap = t.get("severity_map", {})
        if not isinstance(smap, dict):
            r.fail(f"{path}.severity_map", "must be a table of label = severity")
            smap = {}
        for label, sev in smap.items():
            if sev not in SEVERITIES:
                r.fail(f"{path}.severity_map.{label}", f"must be one of {', '.join(SEVERITIES)}", sev)
            else:
                severity_map.append((str(label), sev))
        selectors: list[SelectorSpec] = []
        for i, sraw in enumerate(r.items(t.get("selectors"), f"{path}.selectors")):
            sp = f"{path}.selectors[{i}]"
            st = r.table(sraw, sp, ("matchers", "policy", "component", "severity"))
            if st is None:
                continue
            mt = st.get("matchers")
            if not isinstance(mt, dict) or not mt or not all(isinstance(v, str) for v in mt.values()):
                r.fail(f"{sp}.matchers", "must be a non-empty table of label = value")
                continue
            selectors.append(
                SelectorSpec(
                    matchers=tuple((str(k), v) for k, v in mt.items()),
                    policy=r.text(st, "policy", sp, required=False),
                    component=r.text(st, "component", sp, required=False),
                    severity=r.choice(st, "severity", sp, SEVERITIES),
                )
            )
        flap = r.integer(t, "flap_window_seconds", path, 0)
        if name and kind:
            out.append(
                IntegrationSpec(
                    name=name,
                    kind=kind,
                    policy=r.text(t, "policy", path, required=False),
                    component=r.text(t, "component", path, required=False),
                    severity=r.choice(t, "severity", path, SEVERITIES) or DEFAULT_SEVERITY,
                    severity_map=tuple(sorted(severity_map)),
                    selectors=tuple(selectors),
                    auto_resolve=r.flag(t, "auto_resolve", path, True),
                    flap_window_seconds=flap or 0,
                )
            )
    r.unique([i.name for i in out], "integrations", "integration")
    return tuple(out)


def _heartbeats(r: _Reader, top: dict[str, Any]) -> tuple[HeartbeatSpec, ...]:
    out: list[HeartbeatSpec] = []
    for n, raw in enumerate(r.items(top["heartbeats"], "heartbeats")):
        path = f"heartbeats[{n}]"
        t = r.table(raw, path, ("name", "policy", "interval_minutes", "grace_minutes", "severity"))
        if t is None:
            continue
        name = r.text(t, "name", path)
        policy = r.text(t, "policy", path)
        interval = r.integer(t, "interval_minutes", path, None)
        if interval is None:
            r.fail(f"{path}.interval_minutes", "is required")
        grace = r.integer(t, "grace_minutes", path, DEFAULT_GRACE_MINUTES)
        severity = r.choice(t, "severity", path, SEVERITIES) or DEFAULT_SEVERITY
        if name and policy and interval is not None:
            out.append(
                HeartbeatSpec(
                    name, policy, interval, DEFAULT_GRACE_MINUTES if grace is None else grace, severity
                )
            )
    r.unique([h.name for h in out], "heartbeats", "heartbeat")
    return tuple(out)


def _notification_rules(r: _Reader, top: dict[str, Any]) -> tuple[NotificationRulesSpec, ...]:
    out: list[NotificationRulesSpec] = []
    for n, raw in enumerate(r.items(top["notification_rules"], "notification_rules")):
        path = f"notification_rules[{n}]"
        t = r.table(raw, path, ("person", "high", "low", "shift_reminders"))
        if t is None:
            continue
        person = r.text(t, "person", path)
        steps: dict[str, tuple[RuleStepSpec, ...]] = {}
        for urgency in URGENCIES:
            found = []
            for i, step in enumerate(r.items(t.get(urgency), f"{path}.{urgency}")):
                sp = f"{path}.{urgency}[{i}]"
                st = r.table(step, sp, ("method", "delay_minutes"))
                if st is None:
                    continue
                method = r.text(st, "method", sp)
                delay = r.integer(st, "delay_minutes", sp, 0)
                if method:
                    found.append(RuleStepSpec(method, delay or 0))
            # firing order: by delay, then as listed (as the use cases order them)
            steps[urgency] = tuple(sorted(found, key=lambda s: s.delay_minutes))
        reminders = r.table(t.get("shift_reminders", {}), f"{path}.shift_reminders", REMINDER_KEYS) or {}
        rp = f"{path}.shift_reminders"
        if person:
            out.append(
                NotificationRulesSpec(
                    person=person.strip().lower(),
                    high=steps["high"],
                    low=steps["low"],
                    before_minutes=r.integer(reminders, "before_minutes", rp, None),
                    at_start=r.flag(reminders, "at_start", rp, False),
                    at_end=r.flag(reminders, "at_end", rp, False),
                )
            )
    r.unique([x.person for x in out], "notification_rules", "person")
    return tuple(out)


REMINDER_KEYS = ("before_minutes", "at_start", "at_end")


# ------------------------------------------------------------------------------------ canonical form


def _put(out: dict[str, Any], key: str, value: Any, default: Any = None) -> None:
    """TOML has no null: a value equal to its default is left out (and read back as the default)."""
    if value != default:
        out[key] = value


def to_data(config: Config) -> dict[str, Any]:
    """The canonical document: sections sorted by key (people by email, schedules and policies by name),
    layers in position order, overrides by start; defaults and nulls left out; instants in UTC
    (``2026-04-07T10:00:00.000Z``). Exporting a database twice gives the same text."""
    data: dict[str, Any] = {"version": VERSION}
    if config.people is not None:
        people = []
        for p in sorted(config.people, key=lambda p: p.email):
            item: dict[str, Any] = {"email": p.email}
            _put(item, "first_name", p.first_name)
            _put(item, "last_name", p.last_name)
            item["role"] = p.role
            people.append(item)
        data["people"] = people
    if config.schedules is not None:
        schedules = []
        for s in sorted(config.schedules, key=lambda s: s.name):
            item = {"name": s.name, "timezone": s.timezone}
            _put(item, "description", s.description)
            layers = []
            for la in s.layers:
                layer: dict[str, Any] = {"name": la.name, "rotation_type": la.rotation_type}
                _put(
                    layer,
                    "rotation_length_days",
                    la.rotation_length_days,
                    ROTATION_LENGTHS.get(la.rotation_type),
                )
                layer["handoff_time"] = la.handoff_time
                layer["effective_from"] = to_iso(la.effective_from)
                if la.effective_until is not None:
                    layer["effective_until"] = to_iso(la.effective_until)
                layer["participants"] = list(la.participants)
                layers.append(layer)
            if layers:
                item["layers"] = layers
            overrides = []
            for o in sorted(s.overrides, key=lambda o: (o.start, o.end, o.person)):
                ov: dict[str, Any] = {"person": o.person, "start": to_iso(o.start), "end": to_iso(o.end)}
                _put(ov, "note", o.note)
                overrides.append(ov)
            if overrides:
                item["overrides"] = overrides
            schedules.append(item)
        data["schedules"] = schedules
    if config.policies is not None:
        policies = []
        for pol in sorted(config.policies, key=lambda p: p.name):
            item = {"name": pol.name}
            _put(item, "description", pol.description)
            _put(item, "repeat", pol.repeat, 0)
            _put(item, "repage_after_minutes", pol.repage_after_minutes)
            layers = []
            for el in pol.layers:
                layer = {"ack_timeout_minutes": el.ack_timeout_minutes}
                if el.schedule is not None:
                    layer["schedule"] = el.schedule
                else:
                    layer["users"] = list(el.users)
                layers.append(layer)
            if layers:
                item["layers"] = layers
            policies.append(item)
        data["policies"] = policies
    if config.integrations is not None:
        data["integrations"] = [
            _integration_data(i) for i in sorted(config.integrations, key=lambda i: i.name)
        ]
    if config.heartbeats is not None:
        heartbeats = []
        for h in sorted(config.heartbeats, key=lambda h: h.name):
            item = {"name": h.name, "policy": h.policy, "interval_minutes": h.interval_minutes}
            _put(item, "grace_minutes", h.grace_minutes, DEFAULT_GRACE_MINUTES)
            _put(item, "severity", h.severity, DEFAULT_SEVERITY)
            heartbeats.append(item)
        data["heartbeats"] = heartbeats
    if config.notification_rules is not None:
        rules = []
        for nr in sorted(config.notification_rules, key=lambda x: x.person):
            if nr.empty:
                continue
            item = {"person": nr.person}
            for urgency in URGENCIES:
                steps = [
                    {"method": st.method, "delay_minutes": st.delay_minutes} for st in getattr(nr, urgency)
                ]
                if steps:
                    item[urgency] = steps
            if nr.reminders != (None, False, False):
                reminders: dict[str, Any] = {}
                _put(reminders, "before_minutes", nr.before_minutes)
                reminders["at_start"] = nr.at_start
                reminders["at_end"] = nr.at_end
                item["shift_reminders"] = reminders
            rules.append(item)
        data["notification_rules"] = rules
    return data


def _integration_data(i: IntegrationSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"name": i.name, "kind": i.kind}
    _put(item, "policy", i.policy)
    _put(item, "component", i.component)
    _put(item, "severity", i.severity, DEFAULT_SEVERITY)
    if i.severity_map:
        item["severity_map"] = dict(sorted(i.severity_map))
    _put(item, "auto_resolve", i.auto_resolve, True)
    _put(item, "flap_window_seconds", i.flap_window_seconds, 0)
    selectors = []
    for sel in i.selectors:
        st: dict[str, Any] = {"matchers": dict(sel.matchers)}
        _put(st, "policy", sel.policy)
        _put(st, "component", sel.component)
        _put(st, "severity", sel.severity)
        selectors.append(st)
    if selectors:
        item["selectors"] = selectors
    return item


# ------------------------------------------------------------------------------------------ references


def references(desired: Config, current: Config) -> list[Problem]:
    """Names the document uses that will not exist once it is applied: a person (participant, override,
    layer target) or a schedule (layer target). A managed section's names are the file's own; an
    unmanaged one's are the database's (``current``)."""
    people = {p.email for p in (desired.people if desired.people is not None else current.people or ())}
    schedules = {
        s.name for s in (desired.schedules if desired.schedules is not None else current.schedules or ())
    }
    out: list[Problem] = []

    def person(email: str, path: str) -> None:
        if email not in people:
            where = "the file's people" if desired.people is not None else "the organisation"
            out.append(Problem(path, f"unknown person {_q(email)} (not in {where})", value=email))

    for n, s in enumerate(desired.schedules or ()):
        for i, la in enumerate(s.layers):
            for email in la.participants:
                person(email, f"schedules[{n}].layers[{i}].participants")
        for i, o in enumerate(s.overrides):
            person(o.person, f"schedules[{n}].overrides[{i}].person")
    for n, pol in enumerate(desired.policies or ()):
        for i, el in enumerate(pol.layers):
            if el.schedule is not None and el.schedule not in schedules:
                where = "the file's schedules" if desired.schedules is not None else "the organisation"
                out.append(
                    Problem(
                        f"policies[{n}].layers[{i}].schedule",
                        f"unknown schedule {_q(el.schedule)} (not in {where})",
                        value=el.schedule,
                    )
                )
            for email in el.users:
                person(email, f"policies[{n}].layers[{i}].users")
    policies = {
        p.name for p in (desired.policies if desired.policies is not None else current.policies or ())
    }

    def policy(name: str | None, path: str) -> None:
        if name and name not in policies:
            where = "the file's policies" if desired.policies is not None else "the organisation"
            out.append(Problem(path, f"unknown escalation policy {_q(name)} (not in {where})", value=name))

    for n, integ in enumerate(desired.integrations or ()):
        policy(integ.policy, f"integrations[{n}].policy")
        for i, sel in enumerate(integ.selectors):
            policy(sel.policy, f"integrations[{n}].selectors[{i}].policy")
    for n, hb in enumerate(desired.heartbeats or ()):
        policy(hb.policy, f"heartbeats[{n}].policy")
    for n, nr in enumerate(desired.notification_rules or ()):
        person(nr.person, f"notification_rules[{n}].person")
        known = current.contact_methods.get(nr.person, {})
        for urgency in URGENCIES:
            for i, step in enumerate(getattr(nr, urgency)):
                if step.method not in known:
                    have = ", ".join(_q(m) for m in known) or "none"
                    out.append(
                        Problem(
                            f"notification_rules[{n}].{urgency}[{i}].method",
                            f"{nr.person} has no contact method {_q(step.method)} (theirs: {have}; "
                            "contact methods are not in the file: add it with `oncall users contacts add`)",
                            value=step.method,
                        )
                    )
    return out


def ended_overrides(desired: Config, now: datetime) -> list[tuple[str, OverrideSpec]]:
    """The file's overrides that ended at or before ``now`` (schedule name, override): history, which an
    apply ignores; worth a warning, since someone probably meant them to count."""
    return [(s.name, o) for s in desired.schedules or () for o in s.overrides if o.end <= now]


def locate(text: str, problems: list[Problem]) -> list[Problem]:
    """Each problem with the line of the file it is about, where it can be found: the first line at or
    after the line of its object (the ``n``-th entry of its section) that holds the offending value, else
    its key, else the object's own line."""
    lines = text.splitlines()
    out = []
    for p in problems:
        if p.line is not None or (p.value is None and not p.path):
            out.append(p)
            continue
        start = _object_line(lines, p.path)
        key = p.path.rsplit(".", 1)[-1].split("[")[0]
        found = None
        for needle in (p.value, key):
            if found is None and needle:
                found = next((i + 1 for i in range(start, len(lines)) if needle in lines[i]), None)
        out.append(replace(p, line=found if found is not None else (start + 1 if start else None)))
    return out


def _object_line(lines: list[str], path: str) -> int:
    """The 0-based line where the object at ``path``'s first ``section[n]`` begins (0 if not found)."""
    m = re.match(r"(" + "|".join(SECTIONS) + r")\[(\d+)\]", path)
    if m is None:
        return 0
    section, index = m.group(1), int(m.group(2))
    toml_header = re.compile(rf"^\s*\[\[\s*{section}\s*\]\]")
    seen = -1
    for i, line in enumerate(lines):
        if toml_header.match(line):
            seen += 1
            if seen == index:
                return i
    # YAML: the section's key, then its n-th "- " item at the first indentation seen.
    in_section, indent = False, None
    for i, line in enumerate(lines):
        if re.match(rf"^{section}\s*:", line):
            in_section, seen = True, -1
            continue
        if in_section:
            if line and not line[0].isspace() and not line.startswith("-"):
                break
            m2 = re.match(r"^(\s*)- ", line)
            if m2 and (indent is None or len(m2.group(1)) == indent):
                indent = len(m2.group(1))
                seen += 1
                if seen == index:
                    return i
    return 0


# --------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Change:
    """One step of a plan. ``kind`` is the object's kind in the field's words; ``subject`` names it as
    people do (``schedule "Platform Primary" rotation layer "Primary"``); ``fields`` are ``(field,
    before, after)`` for a change. ``spec`` is the desired object (create, change), ``current`` the
    database's (change, delete: it carries the id)."""

    action: Action
    kind: str
    subject: str
    fields: tuple[tuple[str, Any, Any], ...] = ()
    spec: Any = None
    current: Any = None
    parent: str | None = None  # the schedule's or the policy's name, for their layers and overrides
    position: int | None = None  # an escalation layer's 1-based position

    def line(self) -> str:
        sign = {"create": "+", "change": "~", "delete": "-"}[self.action]
        text = f"{sign} {self.action} {self.subject}"
        if self.fields:
            text += ": " + "; ".join(f"{f} {_show(b)} -> {_show(a)}" for f, b, a in self.fields)
        return text

    def wire(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "subject": self.subject,
            "fields": [{"field": f, "before": _plain(b), "after": _plain(a)} for f, b, a in self.fields],
        }


class _Verbatim(str):
    """A value the plan shows as it is (already quoted where needed), such as a layer's target."""


def _q(text: str) -> str:
    """A name as the plan shows it: in double quotes, as terraform does."""
    return json.dumps(text, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, _Verbatim):
        return str(value)
    if isinstance(value, str):
        return _q(value) if len(value) <= 60 else _q(value[:57] + "...")
    return str(value)


@dataclass(frozen=True)
class Plan:
    """The changes, in order. ``revealed`` is filled by an apply: ``(subject, token)`` of each
    integration or heartbeat it created (their URL tokens are shown once, as their create commands do)."""

    changes: tuple[Change, ...] = field(default=())
    revealed: tuple[tuple[str, str], ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> str:
        if self.empty:
            return "No changes: the database already matches the file."
        return (
            f"Plan: {self.count('create')} to create, {self.count('change')} to change, "
            f"{self.count('delete')} to delete."
        )

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes] + [self.summary()]

    def wire(self) -> dict[str, Any]:
        return {
            "changes": [c.wire() for c in self.changes],
            "create": self.count("create"),
            "change": self.count("change"),
            "delete": self.count("delete"),
        }


def _diff(pairs: Iterable[tuple[str, Any, Any]]) -> tuple[tuple[str, Any, Any], ...]:
    return tuple((f, b, a) for f, b, a in pairs if b != a)


def plan(desired: Config, current: Config, now: datetime) -> Plan:
    """The changes that make ``current`` (the database, objects carrying ids) match ``desired`` (the
    file), in the order they can be applied: people created and changed; schedules with their rotation
    layers (deleted, changed, created, reordered) and overrides; policies with their escalation layers;
    then deletions of policies, schedules and last people, once nothing refers to them. Overrides that
    ended at or before ``now`` are left alone on both sides. Unmanaged sections (None) plan nothing."""
    changes: list[Change] = []
    late: list[Change] = []
    if desired.people is not None:
        have = {p.email: p for p in current.people or ()}
        want = {p.email for p in desired.people}
        for p in desired.people:
            old = have.get(p.email)
            if old is None:
                changes.append(Change("create", "person", f"person {_q(p.email)} ({p.role})", spec=p))
                continue
            fields = _diff(
                [
                    ("first_name", old.first_name, p.first_name),
                    ("last_name", old.last_name, p.last_name),
                    ("role", old.role, p.role),
                ]
            )
            if fields:
                changes.append(
                    Change("change", "person", f"person {_q(p.email)}", fields, spec=p, current=old)
                )
        for old in current.people or ():
            if old.email not in want:
                late.append(Change("delete", "person", f"person {_q(old.email)}", current=old))
    if desired.schedules is not None:
        have_s = {s.name: s for s in current.schedules or ()}
        want_s = {s.name for s in desired.schedules}
        for s in desired.schedules:
            changes += _plan_schedule(s, have_s.get(s.name), now)
        deletes = [s for s in current.schedules or () if s.name not in want_s]
        late = [Change("delete", "schedule", f"schedule {_q(s.name)}", current=s) for s in deletes] + late
    if desired.policies is not None:
        have_p = {p.name: p for p in current.policies or ()}
        want_p = {p.name for p in desired.policies}
        for pol in desired.policies:
            changes += _plan_policy(pol, have_p.get(pol.name))
        deletes_p = [p for p in current.policies or () if p.name not in want_p]
        late = [Change("delete", "policy", f"policy {_q(p.name)}", current=p) for p in deletes_p] + late
    if desired.integrations is not None:
        have_i = {i.name: i for i in current.integrations or ()}
        want_i = {i.name for i in desired.integrations}
        for integ in desired.integrations:
            old_i = have_i.get(integ.name)
            if old_i is not None and old_i.kind != integ.kind:  # a kind cannot be changed: replace it
                changes.append(_delete_integration(old_i, f" (its kind becomes {integ.kind})"))
                old_i = None
            changes += _plan_integration(integ, old_i)
        late = [_delete_integration(i) for i in current.integrations or () if i.name not in want_i] + late
    if desired.heartbeats is not None:
        have_h = {h.name: h for h in current.heartbeats or ()}
        want_h = {h.name for h in desired.heartbeats}
        for hb in desired.heartbeats:
            old_h = have_h.get(hb.name)
            subject = f"heartbeat {_q(hb.name)}"
            if old_h is None:
                changes.append(
                    Change("create", "heartbeat", f"{subject} (every {hb.interval_minutes}m)", spec=hb)
                )
                continue
            fields = _diff(
                [
                    ("policy", old_h.policy, hb.policy),
                    ("interval_minutes", old_h.interval_minutes, hb.interval_minutes),
                    ("grace_minutes", old_h.grace_minutes, hb.grace_minutes),
                    ("severity", old_h.severity, hb.severity),
                ]
            )
            if fields:
                changes.append(Change("change", "heartbeat", subject, fields, spec=hb, current=old_h))
        late = [
            Change("delete", "heartbeat", f"heartbeat {_q(h.name)}", current=h)
            for h in current.heartbeats or ()
            if h.name not in want_h
        ] + late
    if desired.notification_rules is not None:
        have_r = {x.person: x for x in current.notification_rules or () if not x.empty}
        want_r = {x.person for x in desired.notification_rules if not x.empty}
        for nr in desired.notification_rules:
            changes += _plan_rules(nr, have_r.get(nr.person))
        late = [
            Change("delete", "notification rules", f"notification rules of {_q(x.person)}", current=x)
            for x in have_r.values()
            if x.person not in want_r
        ] + late
    return Plan(tuple(changes + late))


def _delete_integration(i: IntegrationSpec, why: str = "") -> Change:
    return Change("delete", "integration", f"integration {_q(i.name)}{why}", current=i)


def _plan_integration(integ: IntegrationSpec, old: IntegrationSpec | None) -> list[Change]:
    subject = f"integration {_q(integ.name)}"
    if old is None:
        return [Change("create", "integration", f"{subject} ({integ.kind})", spec=integ)]
    fields = _diff(
        [
            ("policy", old.policy, integ.policy),
            ("component", old.component, integ.component),
            ("severity", old.severity, integ.severity),
            ("severity_map", _pairs(old.severity_map), _pairs(integ.severity_map)),
            ("selectors", _texts(old.selectors), _texts(integ.selectors)),
            ("auto_resolve", old.auto_resolve, integ.auto_resolve),
            ("flap_window_seconds", old.flap_window_seconds, integ.flap_window_seconds),
        ]
    )
    return [Change("change", "integration", subject, fields, spec=integ, current=old)] if fields else []


def _pairs(pairs: tuple[tuple[str, str], ...]) -> tuple[_Verbatim, ...]:
    return tuple(_Verbatim(f"{k}={v}") for k, v in pairs)


def _texts(items: Iterable[SelectorSpec | RuleStepSpec]) -> tuple[_Verbatim, ...]:
    return tuple(_Verbatim(x.text) for x in items)


def _plan_rules(nr: NotificationRulesSpec, old: NotificationRulesSpec | None) -> list[Change]:
    subject = f"notification rules of {_q(nr.person)}"
    if old is None:
        if nr.empty:
            return []
        return [Change("create", "notification rules", subject, spec=nr)]
    fields = _diff(
        [
            ("high", _texts(old.high), _texts(nr.high)),
            ("low", _texts(old.low), _texts(nr.low)),
            ("shift_reminders.before_minutes", old.before_minutes, nr.before_minutes),
            ("shift_reminders.at_start", old.at_start, nr.at_start),
            ("shift_reminders.at_end", old.at_end, nr.at_end),
        ]
    )
    return [Change("change", "notification rules", subject, fields, spec=nr, current=old)] if fields else []


def _plan_schedule(s: ScheduleSpec, old: ScheduleSpec | None, now: datetime) -> list[Change]:
    subject = f"schedule {_q(s.name)}"
    out: list[Change] = []
    if old is None:
        out.append(Change("create", "schedule", f"{subject} ({s.timezone})", spec=s))
        old = ScheduleSpec(name=s.name, timezone=s.timezone, description=s.description)
    else:
        fields = _diff(
            [("description", old.description, s.description), ("timezone", old.timezone, s.timezone)]
        )
        if fields:
            out.append(Change("change", "schedule", subject, fields, spec=s, current=old))
    have = {la.name: la for la in old.layers}
    want = {la.name for la in s.layers}
    for la in old.layers:
        if la.name not in want:
            out.append(
                Change(
                    "delete",
                    "rotation layer",
                    f"{subject} rotation layer {_q(la.name)}",
                    current=la,
                    parent=s.name,
                )
            )
    order = [la.name for la in old.layers if la.name in want]
    for la in s.layers:
        cur = have.get(la.name)
        lsubject = f"{subject} rotation layer {_q(la.name)}"
        if cur is None:
            out.append(Change("create", "rotation layer", lsubject, spec=la, parent=s.name))
            order.append(la.name)
            continue
        fields = _diff(
            [
                ("rotation_type", cur.rotation_type, la.rotation_type),
                ("rotation_length_days", cur.rotation_length_days, la.rotation_length_days),
                ("handoff_time", cur.handoff_time, la.handoff_time),
                ("effective_from", cur.effective_from, la.effective_from),
                ("effective_until", cur.effective_until, la.effective_until),
                ("participants", cur.participants, la.participants),
            ]
        )
        if fields:
            out.append(
                Change("change", "rotation layer", lsubject, fields, spec=la, current=cur, parent=s.name)
            )
    wanted_order = [la.name for la in s.layers]
    if order != wanted_order:
        out.append(
            Change(
                "change",
                "rotation layer order",
                f"{subject} rotation layer order",
                (("order", tuple(order), tuple(wanted_order)),),
                spec=s,
                parent=s.name,
            )
        )
    live_old = {o.key: o for o in old.overrides if o.end > now}
    live_new = {o.key: o for o in s.overrides if o.end > now}
    for key, o in live_old.items():
        new = live_new.get(key)
        if new is None or new.note != o.note:
            out.append(
                Change(
                    "delete", "override", f"{subject} override {_override_text(o)}", current=o, parent=s.name
                )
            )
    for key, o in live_new.items():
        cur_o = live_old.get(key)
        if cur_o is None or cur_o.note != o.note:
            out.append(
                Change("create", "override", f"{subject} override {_override_text(o)}", spec=o, parent=s.name)
            )
    return out


def _override_text(o: OverrideSpec) -> str:
    return f"{o.person} {to_iso(o.start)} -> {to_iso(o.end)}"


def _plan_policy(pol: PolicySpec, old: PolicySpec | None) -> list[Change]:
    subject = f"policy {_q(pol.name)}"
    out: list[Change] = []
    if old is None:
        out.append(Change("create", "policy", subject, spec=pol))
        old = PolicySpec(
            name=pol.name,
            description=pol.description,
            repeat=pol.repeat,
            repage_after_minutes=pol.repage_after_minutes,
        )
    else:
        fields = _diff(
            [
                ("description", old.description, pol.description),
                ("repeat", old.repeat, pol.repeat),
                ("repage_after_minutes", old.repage_after_minutes, pol.repage_after_minutes),
            ]
        )
        if fields:
            out.append(Change("change", "policy", subject, fields, spec=pol, current=old))
    for n, el in enumerate(pol.layers, start=1):
        lsubject = f"{subject} layer {n}"
        if n > len(old.layers):
            out.append(
                Change(
                    "create",
                    "escalation layer",
                    f"{lsubject} (ack within {el.ack_timeout_minutes}m: {el.target_text})",
                    spec=el,
                    parent=pol.name,
                    position=n,
                )
            )
            continue
        cur = old.layers[n - 1]
        fields = _diff(
            [
                ("ack_timeout_minutes", cur.ack_timeout_minutes, el.ack_timeout_minutes),
                ("target", _Verbatim(cur.target_text), _Verbatim(el.target_text)),
            ]
        )
        if fields:
            out.append(
                Change(
                    "change",
                    "escalation layer",
                    lsubject,
                    fields,
                    spec=el,
                    current=cur,
                    parent=pol.name,
                    position=n,
                )
            )
    for n in range(len(old.layers), len(pol.layers), -1):
        cur = old.layers[n - 1]
        out.append(
            Change(
                "delete",
                "escalation layer",
                f"{subject} layer {n} ({cur.target_text})",
                current=cur,
                parent=pol.name,
                position=n,
            )
        )
    return out
