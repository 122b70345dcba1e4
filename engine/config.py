"""Configuration as code: the on-call setup as one document, and the plan that brings a database to it.

Pure (no I/O, no clock reads): the service layer (engine/service/config.py) reads the database into a
:class:`Config`, parses a file into another, and asks :func:`plan` for the difference; it then applies the
plan through the use cases in one transaction. docs/CONFIG.md documents the format.

A document is a mapping with ``version = 1`` and up to three sections, ``people``, ``schedules`` and
``policies``. Objects refer to each other by name or email, never by id: a person by ``email``, a schedule
by ``name`` (unique in an organisation), a rotation layer by ``name`` within its schedule, a policy by
``name``; an escalation layer by its place in its policy's list, an override by ``(person, start, end)``.

A section that is present is **managed**: the file is the whole truth for that kind of object, so an
object of that kind absent from the file is deleted (a person is removed). A section left out entirely
is not managed: nothing of that kind is created, changed or deleted. Past overrides are history and are
never managed: only overrides that have not yet ended (``end > now``) are exported, planned and deleted.

Adding a section (integrations, notification rules): a spec dataclass here, its parsing in
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
    "OverrideSpec",
    "Person",
    "PolicySpec",
    "Problem",
    "RotationLayerSpec",
    "ScheduleSpec",
    "dumps",
    "loads",
    "parse",
    "plan",
    "references",
    "to_data",
]

VERSION = 1
FORMATS = ("toml", "yaml")
Format = Literal["toml", "yaml"]
Action = Literal["create", "change", "delete"]
ROLES = ("org:admin", "org:member")
ROTATION_TYPES = ("daily", "weekly", "custom")
ROTATION_LENGTHS = {"daily": 1, "weekly": 7}


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
class Config:
    """A whole setup. A section that is None was left out of the file: it is not managed."""

    people: tuple[Person, ...] | None = None
    schedules: tuple[ScheduleSpec, ...] | None = None
    policies: tuple[PolicySpec, ...] | None = None


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
    "oncall configuration: people, schedules and escalation policies by name.\n"
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
    top = r.table(data, "", ("version", "people", "schedules", "policies"))
    if top is None:
        raise ConfigInvalid(r.problems or [Problem("", "the document must be a table")])
    version = top.get("version", VERSION)
    if version != VERSION:
        r.fail("version", f"must be {VERSION} (this oncall reads version {VERSION} files)", version)
    people = _people(r, top) if "people" in top else None
    schedules = _schedules(r, top) if "schedules" in top else None
    policies = _policies(r, top) if "policies" in top else None
    if r.problems:
        raise ConfigInvalid(r.problems)
    return Config(people=people, schedules=schedules, policies=policies)


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
    return data


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
    m = re.match(r"(people|schedules|policies)\[(\d+)\]", path)
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
    changes: tuple[Change, ...] = field(default=())

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
    return Plan(tuple(changes + late))


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
