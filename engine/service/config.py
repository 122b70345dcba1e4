"""Configuration as code: export an organisation's setup, plan a file against it, apply the plan, lint it.

The document and the diff are :mod:`engine.config` (pure). Here: reading the database into a
:class:`~engine.config.Config` (:func:`current`), and applying a plan through the ordinary use cases
(people, schedules, policies, integrations, heartbeats, notification rules and shift reminders) inside
ONE outer write transaction, so an error anywhere rolls everything
back (the use cases' own transactions become savepoints). :func:`lint_text` runs the same apply and
:func:`engine.service.lint.lint` on the result, then rolls back: it finds every error an apply would hit
without writing anything. docs/CONFIG.md.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from engine import config as cfg
from engine.config import Change, Config, Plan, Problem
from engine.errors import DomainError
from engine.lint import Finding
from engine.runtime import apprise_channel, shift_reminders
from engine.service import (
    Ctx,
    contacts,
    heartbeats,
    integrations,
    notification_rules,
    orgs,
    policies,
    schedules,
)
from engine.service import lint as lint_service
from engine.timefmt import parse_iso, parse_iso_opt, to_iso, to_iso_opt

# ------------------------------------------------------------------------------------------- reading


def current(ctx: Ctx) -> Config:
    """The organisation's setup as a :class:`Config` whose objects carry their ids: its current people,
    every schedule (rotation layers by position, overrides that have not ended), every policy (layers by
    position). References are emails and schedule names."""
    now = ctx.now()
    with ctx.db.read():
        emails = {p["id"]: p["email"] for p in orgs.people(ctx)}
        people = tuple(
            cfg.Person(u["email"], u["firstName"], u["lastName"], u["role"], id=u["id"])
            for u in orgs.list_users(ctx)
        )
        sched_names: dict[str, str] = {}
        specs: list[cfg.ScheduleSpec] = []
        for s in schedules.list_schedules(ctx):
            full = schedules.get_schedule(ctx, s["id"])
            sched_names[s["id"]] = s["name"]
            layers = tuple(
                cfg.RotationLayerSpec(
                    name=la["name"],
                    rotation_type=la["rotationType"],
                    rotation_length_days=la["rotationLengthDays"],
                    handoff_time=la["handoffTime"],
                    effective_from=parse_iso(la["effectiveFrom"]),
                    effective_until=parse_iso_opt(la["effectiveUntil"]),
                    participants=tuple(emails.get(u, u) for u in la["participantIds"]),
                    id=la["id"],
                )
                for la in full["layers"]
            )
            overrides = tuple(
                cfg.OverrideSpec(
                    person=emails.get(o["userId"], o["userId"]),
                    start=parse_iso(o["start"]),
                    end=parse_iso(o["end"]),
                    note=o["note"],
                    id=o["id"],
                )
                for o in full["overrides"]
                if parse_iso(o["end"]) > now
            )
            specs.append(
                cfg.ScheduleSpec(
                    name=s["name"],
                    timezone=s["timezone"],
                    description=s["description"],
                    layers=layers,
                    overrides=overrides,
                    id=s["id"],
                )
            )
        pols: list[cfg.PolicySpec] = []
        for p in policies.list_policies(ctx):
            full = policies.get_policy(ctx, p["id"])
            pols.append(
                cfg.PolicySpec(
                    name=p["name"],
                    description=p["description"],
                    repeat=p["repeat"],
                    repage_after_minutes=p["repageAfterMinutes"],
                    layers=tuple(_layer_spec(la, emails, sched_names) for la in full["layers"]),
                    id=p["id"],
                )
            )
        pol_names = {p.id: p.name for p in pols if p.id}
        integs = tuple(_integration_spec(i, pol_names) for i in integrations.list_integrations(ctx))
        beats = tuple(
            cfg.HeartbeatSpec(
                name=h["name"],
                policy=pol_names.get(h["escalationPolicyId"], h["escalationPolicyId"]),
                interval_minutes=h["intervalMinutes"],
                grace_minutes=h["graceMinutes"],
                severity=h["severity"],
                id=h["id"],
            )
            for h in heartbeats.list_heartbeats(ctx)
        )
        methods: dict[str, dict[str, str]] = {}
        rules: list[cfg.NotificationRulesSpec] = []
        for person in people:
            assert person.id is not None
            refs = method_references(contacts.list_contact_methods(ctx, person.id))
            methods[person.email] = {ref: mid for mid, ref in refs.items()}
            steps = notification_rules.list_rules(ctx, person.id)
            reminders = shift_reminders.settings_of(ctx.db, person.id)
            rules.append(
                cfg.NotificationRulesSpec(
                    person=person.email,
                    high=tuple(
                        cfg.RuleStepSpec(refs[s["contactMethodId"]], s["delayMinutes"]) for s in steps["high"]
                    ),
                    low=tuple(
                        cfg.RuleStepSpec(refs[s["contactMethodId"]], s["delayMinutes"]) for s in steps["low"]
                    ),
                    before_minutes=reminders.before_minutes,
                    at_start=reminders.at_start,
                    at_end=reminders.at_end,
                    id=person.id,
                )
            )
    return Config(
        people=people,
        schedules=tuple(specs),
        policies=tuple(pols),
        integrations=integs,
        heartbeats=beats,
        notification_rules=tuple(r for r in rules if not r.empty),
        contact_methods=methods,
    )


def method_reference(method: dict[str, Any]) -> str:
    """How a document names a contact method (its wire form), without its secrets: ``log``, ``webhook
    https://hooks.example.com/…``, ``apprise ntfys://ntfy.sh/…`` (scheme and server only), ``command
    notify-send`` (the program, without its arguments)."""
    channel, address = method["channel"], method["address"]
    if channel == "log" or not address:
        return str(channel)
    if channel == "command":
        try:
            program = shlex.split(address)[0]
        except (ValueError, IndexError):
            program = "…"
        return f"command {program}"
    return f"{channel} {apprise_channel.mask(address)}"


def method_references(methods: list[dict[str, Any]]) -> dict[str, str]:
    """Each of a person's contact methods (wire forms, oldest first) by id -> its reference; a second,
    third method with the same reference gets `` #2``, `` #3``."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for m in sorted(methods, key=lambda m: (m["createdAt"], m["id"])):
        ref = method_reference(m)
        seen[ref] = seen.get(ref, 0) + 1
        out[m["id"]] = ref if seen[ref] == 1 else f"{ref} #{seen[ref]}"
    return out


def _integration_spec(i: dict[str, Any], pol_names: dict[str, str]) -> cfg.IntegrationSpec:
    def policy(pid: str | None) -> str | None:
        return None if pid is None else pol_names.get(pid, pid)

    selectors = tuple(
        cfg.SelectorSpec(
            matchers=tuple((m["key"], m["value"]) for m in sel["matchers"]),
            # a selector's explicit null is "" in a document (None: inherited from the default)
            policy=(policy(sel["escalationPolicyId"]) or "") if "escalationPolicyId" in sel else None,
            component=(sel["component"] or "") if "component" in sel else None,
            severity=sel.get("severity"),
        )
        for sel in i["selectors"]
    )
    return cfg.IntegrationSpec(
        name=i["name"],
        kind=i["kind"],
        policy=policy(i["escalationPolicyId"]),
        component=i["component"],
        severity=i["severity"],
        severity_map=tuple(sorted(i["severityMap"].items())),
        selectors=selectors,
        auto_resolve=i["autoResolve"],
        flap_window_seconds=i["flapWindowSeconds"],
        id=i["id"],
    )


def _layer_spec(
    layer: dict[str, Any], emails: dict[str, str], sched_names: dict[str, str]
) -> cfg.EscalationLayerSpec:
    target = layer["target"]
    if target["type"] == "schedule":
        sid = target["scheduleId"]
        return cfg.EscalationLayerSpec(
            layer["ackTimeoutMinutes"], schedule=sched_names.get(sid, sid), id=layer["id"]
        )
    users = tuple(emails.get(u, u) for u in target["userIds"])
    return cfg.EscalationLayerSpec(layer["ackTimeoutMinutes"], users=users, id=layer["id"])


def export_data(ctx: Ctx) -> dict[str, Any]:
    """The organisation's setup as the document's data (:func:`engine.config.to_data`)."""
    return cfg.to_data(current(ctx))


def export_text(ctx: Ctx, fmt: cfg.Format = "toml") -> str:
    """The organisation's setup as a TOML or YAML document (:func:`engine.config.to_data`): no ids, no
    secrets (API keys, contact methods and their signing secrets are not part of it)."""
    return cfg.dumps(cfg.to_data(current(ctx)), fmt)


def read_text(text: str, fmt: cfg.Format) -> Config:
    """Parse a document; :class:`engine.config.ConfigInvalid` (problems with their lines) otherwise."""
    try:
        return cfg.parse(cfg.loads(text, fmt))
    except cfg.ConfigInvalid as exc:
        raise cfg.ConfigInvalid(cfg.locate(text, exc.problems)) from None


# --------------------------------------------------------------------------------------------- planning


class ConfigRejected(DomainError):
    """The file cannot be applied: it does not parse, has the wrong shape, or names what does not exist.
    400 ``invalid_config``; ``problems`` carry paths and lines."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        first = problems[0].text(source)
        more = (
            f" (and {len(problems) - 1} more problem(s); run oncall lint FILE)" if len(problems) > 1 else ""
        )
        super().__init__("invalid_config", first + more, details=[p.wire() for p in problems])
        self.problems = problems


def plan_text(ctx: Ctx, text: str, fmt: cfg.Format, *, source: str = "") -> Plan:
    """What applying the document would change, without writing. Raises :class:`ConfigRejected`."""
    desired = _checked(ctx, text, fmt, source)
    return cfg.plan(desired, current(ctx), ctx.now())


def apply_text(ctx: Ctx, text: str, fmt: cfg.Format, *, source: str = "") -> Plan:
    """Apply the document in one transaction and return what was changed (an empty plan: nothing was).
    Raises :class:`ConfigRejected` before writing anything, or the first use case's
    :class:`~engine.errors.DomainError` (its message prefixed with the object's name), after which
    nothing of the file was applied."""
    desired = _checked(ctx, text, fmt, source)
    return _apply(ctx, desired)


def _checked(ctx: Ctx, text: str, fmt: cfg.Format, source: str) -> Config:
    try:
        desired = read_text(text, fmt)
    except cfg.ConfigInvalid as exc:
        raise ConfigRejected(exc.problems, source) from None
    problems = cfg.locate(text, cfg.references(desired, current(ctx)))
    if problems:
        raise ConfigRejected(problems, source)
    return desired


def _apply(ctx: Ctx, desired: Config) -> Plan:
    with ctx.write():
        now_config = current(ctx)
        plan = cfg.plan(desired, now_config, ctx.now())
        applier = _Applier(ctx, now_config)
        applier.run(plan)
    return replace(plan, revealed=tuple(applier.revealed))


# --------------------------------------------------------------------------------------------- applying


class _Applier:
    """Runs a plan's changes in order through the use cases, resolving names to ids as it goes (a
    schedule created earlier in the plan is targeted by a policy layer later)."""

    def __init__(self, ctx: Ctx, now_config: Config) -> None:
        self.ctx = ctx
        self.users: dict[str, str] = {p.email: p.id for p in now_config.people or () if p.id}
        self.schedules: dict[str, str] = {s.name: s.id for s in now_config.schedules or () if s.id}
        self.policies: dict[str, str] = {p.name: p.id for p in now_config.policies or () if p.id}
        self.methods = now_config.contact_methods
        self.revealed: list[tuple[str, str]] = []

    def run(self, plan: Plan) -> None:
        for change in plan.changes:
            try:
                getattr(self, "_" + change.kind.replace(" ", "_"))(change)
            except DomainError as exc:
                err = DomainError(exc.code, f"{change.subject}: {exc.message}", details=exc.details)
                err.status_code = exc.status_code
                raise err from exc

    def _user(self, email: str) -> str:
        uid = self.users.get(email)
        if uid is None:  # references() ran first: only a person removed earlier in this plan
            raise DomainError("invalid_config", f"unknown person {email!r}")
        return uid

    # people

    def _person(self, c: Change) -> None:
        ctx = self.ctx
        if c.action == "create":
            p: cfg.Person = c.spec
            body = {"email": p.email, "firstName": p.first_name, "lastName": p.last_name, "role": p.role}
            self.users[p.email] = orgs.create_user(ctx, body)["id"]
        elif c.action == "change":
            changed = {f for f, _, _ in c.fields}
            p = c.spec
            if changed & {"first_name", "last_name"}:
                orgs.update_user_names(ctx, c.current.id, first_name=p.first_name, last_name=p.last_name)
            if "role" in changed:
                orgs.change_role(ctx, c.current.id, p.role)
        else:
            orgs.remove_user(ctx, c.current.id)
            self.users.pop(c.current.email, None)

    # schedules

    def _schedule(self, c: Change) -> None:
        if c.action == "create":
            s: cfg.ScheduleSpec = c.spec
            body = {"name": s.name, "description": s.description, "timezone": s.timezone}
            self.schedules[s.name] = schedules.create_schedule(self.ctx, body)["id"]
        elif c.action == "change":
            names = {"description": "description", "timezone": "timezone"}
            body = {names[f]: after for f, _, after in c.fields}
            schedules.update_schedule(self.ctx, c.current.id, body)
        else:
            schedules.delete_schedule(self.ctx, c.current.id)
            self.schedules.pop(c.current.name, None)

    def _rotation_layer(self, c: Change) -> None:
        assert c.parent is not None
        sid = self.schedules[c.parent]
        if c.action == "delete":
            schedules.delete_rotation_layer(self.ctx, sid, c.current.id)
            return
        la: cfg.RotationLayerSpec = c.spec
        body = {
            "name": la.name,
            "rotationType": la.rotation_type,
            "rotationLengthDays": la.rotation_length_days,
            "handoffTime": la.handoff_time,
            "effectiveFrom": to_iso(la.effective_from),
            "effectiveUntil": to_iso_opt(la.effective_until),
            "participantIds": [self._user(e) for e in la.participants],
        }
        if c.action == "create":
            schedules.add_rotation_layer(self.ctx, sid, body)
        else:
            schedules.update_rotation_layer(self.ctx, sid, c.current.id, body)

    def _rotation_layer_order(self, c: Change) -> None:
        assert c.parent is not None
        sid = self.schedules[c.parent]
        ids = {la["name"]: la["id"] for la in schedules.list_rotation_layers(self.ctx, sid)}
        schedules.reorder_rotation_layers(self.ctx, sid, [ids[la.name] for la in c.spec.layers])

    def _override(self, c: Change) -> None:
        assert c.parent is not None
        sid = self.schedules[c.parent]
        if c.action == "delete":
            schedules.delete_override(self.ctx, sid, c.current.id)
            return
        o: cfg.OverrideSpec = c.spec
        body = {
            "userId": self._user(o.person),
            "start": to_iso(o.start),
            "end": to_iso(o.end),
            "note": o.note,
        }
        schedules.add_override(self.ctx, sid, body)

    # policies

    def _policy(self, c: Change) -> None:
        if c.action == "create":
            p: cfg.PolicySpec = c.spec
            body = {
                "name": p.name,
                "description": p.description,
                "repeat": p.repeat,
                "repageAfterMinutes": p.repage_after_minutes,
            }
            self.policies[p.name] = policies.create_policy(self.ctx, body)["id"]
        elif c.action == "change":
            names = {
                "description": "description",
                "repeat": "repeat",
                "repage_after_minutes": "repageAfterMinutes",
            }
            policies.update_policy(self.ctx, c.current.id, {names[f]: after for f, _, after in c.fields})
        else:
            policies.delete_policy(self.ctx, c.current.id)
            self.policies.pop(c.current.name, None)

    def _escalation_layer(self, c: Change) -> None:
        assert c.parent is not None
        pid = self.policies[c.parent]
        if c.action == "delete":
            policies.delete_layer(self.ctx, pid, c.current.id)
            return
        el: cfg.EscalationLayerSpec = c.spec
        target: dict[str, Any]
        if el.schedule is not None:
            target = {"type": "schedule", "scheduleId": self.schedules.get(el.schedule, el.schedule)}
        else:
            target = {"type": "users", "userIds": [self._user(e) for e in el.users]}
        body = {"ackTimeoutMinutes": el.ack_timeout_minutes, "target": target}
        if c.action == "create":
            policies.add_layer(self.ctx, pid, {"position": c.position, **body})
        else:
            policies.update_layer(self.ctx, pid, c.current.id, body)

    def _policy_id(self, name: str | None) -> str | None:
        return None if not name else self.policies.get(name, name)

    # integrations and heartbeats (their tokens are shown once, in the apply's answer)

    def _integration(self, c: Change) -> None:
        if c.action == "delete":
            integrations.delete_integration(self.ctx, c.current.id)
            return
        spec: cfg.IntegrationSpec = c.spec
        body: dict[str, Any] = {
            "escalationPolicyId": self._policy_id(spec.policy),
            "component": spec.component,
            "severity": spec.severity,
            "severityMap": dict(spec.severity_map),
            "selectors": [self._selector(sel) for sel in spec.selectors],
            "autoResolve": spec.auto_resolve,
            "flapWindowSeconds": spec.flap_window_seconds,
        }
        if c.action == "create":
            created = integrations.create_integration(
                self.ctx, {"name": spec.name, "kind": spec.kind, **body}
            )
            self.revealed.append((f"integration {json.dumps(spec.name)}", created["receivePath"]))
        else:
            integrations.update_integration(self.ctx, c.current.id, body)

    def _selector(self, sel: cfg.SelectorSpec) -> dict[str, Any]:
        out: dict[str, Any] = {"matchers": [{"key": k, "value": v} for k, v in sel.matchers]}
        if sel.policy is not None:
            out["escalationPolicyId"] = self._policy_id(sel.policy)
        if sel.component is not None:
            out["component"] = sel.component or None
        if sel.severity is not None:
            out["severity"] = sel.severity
        return out

    def _heartbeat(self, c: Change) -> None:
        if c.action == "delete":
            heartbeats.delete_heartbeat(self.ctx, c.current.id)
            return
        hb: cfg.HeartbeatSpec = c.spec
        body = {
            "name": hb.name,
            "escalationPolicyId": self._policy_id(hb.policy),
            "intervalMinutes": hb.interval_minutes,
            "graceMinutes": hb.grace_minutes,
            "severity": hb.severity,
        }
        if c.action == "create":
            created = heartbeats.create_heartbeat(self.ctx, body)
            self.revealed.append((f"heartbeat {json.dumps(hb.name)}", created["pingPath"]))
        else:  # only what changed: a new interval or grace re-arms the heartbeat's timer
            names = {
                "policy": "escalationPolicyId",
                "interval_minutes": "intervalMinutes",
                "grace_minutes": "graceMinutes",
                "severity": "severity",
            }
            changed = {names[f]: body[names[f]] for f, _, _ in c.fields}
            heartbeats.update_heartbeat(self.ctx, c.current.id, changed)

    # notification rules and shift reminders

    def _notification_rules(self, c: Change) -> None:
        ctx = self.ctx
        if c.action == "delete":
            old: cfg.NotificationRulesSpec = c.current
            uid = self._user(old.person)
            notification_rules.clear_rules(ctx, uid)
            if old.reminders != (None, False, False):
                notification_rules.set_reminders(
                    ctx, uid, {"beforeMinutes": None, "atStart": False, "atEnd": False}
                )
            return
        nr: cfg.NotificationRulesSpec = c.spec
        uid = self._user(nr.person)
        changed = {f for f, _, _ in c.fields} if c.action == "change" else {"high", "low", "reminders"}
        methods = self.methods.get(nr.person, {})
        for urgency in cfg.URGENCIES:
            if urgency not in changed:
                continue
            notification_rules.clear_rules(ctx, uid, urgency)
            for step in getattr(nr, urgency):
                method = methods.get(step.method)
                if method is None:  # references() ran first: only a method of a person created by this file
                    raise DomainError("invalid_config", f"{nr.person} has no contact method {step.method!r}")
                body = {"urgency": urgency, "contactMethodId": method, "delayMinutes": step.delay_minutes}
                notification_rules.add_rule(ctx, uid, body)
        if c.action == "create" and nr.reminders == (None, False, False):
            return
        if c.action == "create" or any(f.startswith("shift_reminders.") for f in changed):
            body2 = {"beforeMinutes": nr.before_minutes, "atStart": nr.at_start, "atEnd": nr.at_end}
            notification_rules.set_reminders(ctx, uid, body2)


# ------------------------------------------------------------------------------------------------ lint


@dataclass
class ConfigLint:
    """What :func:`lint_text` found: ``problems`` in the file itself (shape, references, an apply that
    would fail), the linter's ``findings`` on the setup the file would leave, and the ``plan``."""

    problems: list[Problem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None

    @property
    def errors(self) -> int:
        return len(self.problems) + sum(1 for f in self.findings if f.level == "error")

    def wire(self) -> dict[str, Any]:
        return {
            "problems": [p.wire() for p in self.problems],
            "findings": [f.wire() for f in self.findings],
            "errors": self.errors,
            "warnings": sum(1 for f in self.findings if f.level == "warning"),
            "plan": None if self.plan is None else self.plan.wire(),
        }


class _Rollback(Exception):
    def __init__(self, result: ConfigLint) -> None:
        self.result = result


def lint_text(ctx: Ctx, text: str, fmt: cfg.Format, *, weeks: int = 4) -> ConfigLint:
    """Check a document before it is applied: its syntax and shape, the names it uses (unknown person,
    schedule), then the whole apply (every use case's rule) and :func:`engine.service.lint.lint` (the
    rules of ``oncall lint``) on the setup it would leave, all inside one transaction that is rolled back:
    nothing is written."""
    try:
        desired = read_text(text, fmt)
    except cfg.ConfigInvalid as exc:
        return ConfigLint(problems=exc.problems)
    refs = cfg.locate(text, cfg.references(desired, current(ctx)))
    if refs:
        return ConfigLint(problems=refs)
    try:
        with ctx.write():
            result = ConfigLint()
            try:
                result.plan = _apply(ctx, desired)
            except DomainError as exc:
                result.problems.append(Problem("", f"applying it would fail: {exc.message}"))
                raise _Rollback(result) from None
            ended = [
                Finding(
                    "warning",
                    "override_ended",
                    f"schedule {json.dumps(name, ensure_ascii=False)} override of {o.person}",
                    f"ended at {to_iso(o.end)}: an apply ignores overrides that are over",
                    "remove it from the file (oncall export leaves past overrides out)",
                )
                for name, o in cfg.ended_overrides(desired, ctx.now())
            ]
            result.findings = ended + lint_service.lint(ctx, None, weeks=weeks)
            raise _Rollback(result)
    except _Rollback as rolled_back:
        return rolled_back.result
