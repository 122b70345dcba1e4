"""The request bodies of the use cases, as msgspec Structs: the one declaration of each field.

A field's wire name (camelCase, ``rename="camel"``), type, limits (``Meta(ge=…, le=…, max_length=…)``),
enum (``Literal``), whether it may be null and whether it may be left out (``UNSET``) are written here
once. :func:`engine.service.validate.decode` checks a body against a model, field by field in the order
declared here, with the reference's error messages (422 ``validation_error`` naming the field), and
returns the Struct; ``console/api/openapi.py`` generates the document from these models' JSON Schema
(``msgspec.json.schema_components``), so the document cannot drift from what the services accept.

Every surface passes plain dicts (the HTTP body, the CLI's options, the TUI's forms, a sync pull) and
goes through the same models. Text rules beyond length (no control characters, a visible character in
names) are named in ``Meta.extra["text"]``: ``"name"``, ``"person"``, ``"line"`` (the default) or
``"multiline"``; ``Meta.extra["invalid"]`` gives the one message for any wrong value of a field whose
reference message is not the generic one. Models cover every request body: escalation policies and
their layers, incidents, schedules with their rotation layers and overrides, users, invitations, roles
and contact methods. Rules across fields (a weekly rotation is 7 days, end after start, a log method
has no address) and rules that need the database stay in the service modules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from engine.model import LONGEST_WAIT_MINUTES, ROLES, ROTATION_TYPES, SEVERITIES, STATUSES
from engine.notification_rules import LONGEST_REMINDER_LEAD_MINUTES, LONGEST_RULE_DELAY_MINUTES

MAX_ACK_TIMEOUT_MINUTES = LONGEST_WAIT_MINUTES

_CONTROLS = r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_LINE = rf"[^{_CONTROLS}]"
_SHOWN = rf"[^{_CONTROLS}\s\u200b-\u200d\u2060\ufeff]"
LINE_PATTERN = rf"^{_LINE}*$"
NAME_PATTERN = rf"^{_LINE}*{_SHOWN}{_LINE}*$"
TEXT_PATTERN = rf"^(?:[^{_CONTROLS}]|[\t\n]|\r\n)*$"
"""The text rules of engine/service/validate.py as JSON Schema patterns (for the OpenAPI document only;
the checks themselves are validate.check_characters and validate.is_visible)."""

_LOCAL = {"x-local-extension": True}


def name(max_length: int = 255) -> Meta:
    """A one-line name or title: 1..max_length characters, at least one visible."""
    return Meta(min_length=1, max_length=max_length, pattern=NAME_PATTERN, extra={"text": "name"})


def text(max_length: int, min_length: int = 0) -> Meta:
    """Free text that may span lines (tab, LF and CR LF allowed)."""
    return Meta(
        min_length=min_length, max_length=max_length, pattern=TEXT_PATTERN, extra={"text": "multiline"}
    )


Id = Annotated[str, Meta(min_length=1, description="an opaque id")]
Name = Annotated[str, name()]
Description = Annotated[str, text(10_000)]
AckTimeout = Annotated[int, Meta(ge=1, le=MAX_ACK_TIMEOUT_MINUTES)]
Position = Annotated[int, Meta(ge=1)]
Instant = Annotated[
    datetime,
    Meta(description="ISO 8601 with a zone (RFC 3339)", extra_json_schema={"format": "date-time"}),
]
"""An instant: a string in ISO 8601 with a zone, checked by engine.timefmt.parse_iso (so decode
returns an aware datetime); any other value is "… must be an ISO 8601 datetime string"."""
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]


class Body(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A request body: camelCase on the wire, unknown fields refused (so a typo never passes silently).
    ``local_extension``: the body of an operation the Scaling API does not have (marked in the document)."""

    local_extension: ClassVar[bool] = False


# -- escalation policies and layers ------------------------------------------------------------------

Repeat = Annotated[
    int, Meta(ge=0, le=20, extra_json_schema=_LOCAL, description="times the whole policy repeats")
]
RepageAfter = Annotated[int, Meta(ge=1, le=MAX_ACK_TIMEOUT_MINUTES, extra_json_schema=_LOCAL)]


class PolicyCreate(Body):
    name: Name
    description: Description | None | UnsetType = UNSET
    repeat: Repeat | UnsetType = UNSET
    repage_after_minutes: RepageAfter | None | UnsetType = UNSET


class PolicyUpdate(Body):
    repeat: Repeat | UnsetType = UNSET
    repage_after_minutes: RepageAfter | None | UnsetType = UNSET
    name: Name | UnsetType = UNSET
    description: Description | None | UnsetType = UNSET


class ScheduleTarget(Body, tag_field="type", tag="schedule"):
    schedule_id: Annotated[str, Meta(min_length=1, extra={"invalid": "must be a schedule id"})]


class UsersTarget(Body, tag_field="type", tag="users"):
    user_ids: Annotated[
        list[Id],
        Meta(min_length=1, extra={"invalid": "must be a non-empty array of user ids"}),
    ]


Target = Annotated[
    ScheduleTarget | UsersTarget,
    Meta(extra={"invalid": "must be an object with a type"}),
]


class EscalationLayerCreate(Body):
    position: Position
    ack_timeout_minutes: AckTimeout
    target: Target


class EscalationLayerUpdate(Body):
    ack_timeout_minutes: AckTimeout | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    target: Target | UnsetType = UNSET


class LayerOrder(Body):
    layer_ids: Annotated[
        list[str],
        Meta(
            description="every layer id of the parent, once, in the new order",
            extra={"required": "layerIds is required", "invalid": "must be an array of layer ids"},
        ),
    ]


# -- incidents ---------------------------------------------------------------------------------------


class IncidentCreate(Body, kw_only=True):
    title: Annotated[str, name(100)]
    description: Description | None | UnsetType = UNSET
    severity: Severity
    owner_id: Id | None | UnsetType = UNSET
    owner_schedule_id: Id | None | UnsetType = UNSET
    escalation_policy_id: Id | None | UnsetType = UNSET
    component_ids: (
        Annotated[
            list[str],
            Meta(
                extra={"invalid": "must be an array of component ids"},
                description="no catalog locally: any id is 400 invalid_component_id",
            ),
        ]
        | None
        | UnsetType
    ) = UNSET


class StatusChange(Body):
    status: Status
    resolution_note: Description | None | UnsetType = UNSET


class UpdateCreate(Body):
    visibility: Annotated[
        Literal["internal", "public"], Meta(extra={"required": "visibility is required (internal or public)"})
    ]
    body: Annotated[str, text(10_000, min_length=1)] | None | UnsetType = UNSET
    status_change: Status | None | UnsetType = UNSET


class Handoff(Body):
    target_user_id: Id


class Escalate(Body):
    local_extension: ClassVar[bool] = True

    to_layer: Position | None | UnsetType = UNSET


class Snooze(Body):
    local_extension: ClassVar[bool] = True

    minutes: Annotated[AckTimeout, Meta(extra={"required": "minutes is required"})]


# -- schedules, rotation layers, overrides ------------------------------------------------------------

Timezone = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        extra_json_schema={"$ref": "#/components/schemas/Timezone"},
        description="checked by engine.rotation.validate_timezone",
    ),
]


class ScheduleCreate(Body, kw_only=True):
    name: Name
    description: Description | None | UnsetType = UNSET
    timezone: Timezone


class ScheduleUpdate(Body):
    name: Name | UnsetType = UNSET
    description: Description | None | UnsetType = UNSET
    timezone: Timezone | UnsetType = UNSET


RotationType = Literal[ROTATION_TYPES]  # type: ignore[valid-type]
RotationLength = Annotated[
    int,
    Meta(
        ge=1,
        le=3650,
        description="daily must be 1 and weekly 7 (defaulted from rotationType); custom needs it",
    ),
]
HandoffTime = Annotated[
    str,
    Meta(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM, 24 h, in the schedule's timezone",
        extra={"invalid": "must be a string HH:MM"},
    ),
]
Participants = Annotated[list[Id], Meta(min_length=1)]


class RotationLayerUpdate(Body):
    """Every field of a rotation layer; the cross-field rules (rotationLengthDays against rotationType,
    effectiveUntil after effectiveFrom, members only) are engine/service/schedules.py's."""

    name: Name | UnsetType = UNSET
    rotation_type: RotationType | UnsetType = UNSET
    rotation_length_days: RotationLength | UnsetType = UNSET
    handoff_time: HandoffTime | UnsetType = UNSET
    effective_from: Instant | UnsetType = UNSET
    effective_until: Instant | None | UnsetType = UNSET
    participant_ids: Participants | UnsetType = UNSET


class RotationLayerCreate(Body, kw_only=True):
    name: Name
    rotation_type: RotationType
    rotation_length_days: RotationLength | UnsetType = UNSET
    handoff_time: HandoffTime
    effective_from: Instant
    effective_until: Instant | None | UnsetType = UNSET
    participant_ids: Participants
    position: Annotated[None, Meta(description="server-assigned; only null is accepted")] | UnsetType = UNSET


class OverrideCreate(Body, kw_only=True):
    user_id: Id
    start: Annotated[Instant, Meta(extra={"required": "start must be an ISO 8601 datetime string"})]
    end: Annotated[Instant, Meta(extra={"required": "end must be an ISO 8601 datetime string"})]
    note: Annotated[str, text(1000)] | None | UnsetType = UNSET


# -- people: users, invitations, roles --------------------------------------------------------------

Email = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=320,
        extra_json_schema={"format": "email"},
        description="checked by engine.service.orgs (one @, a dot in the domain); stored lower-case",
    ),
]
Role = Literal[ROLES]  # type: ignore[valid-type]
PersonName = Annotated[str, Meta(max_length=255, pattern=LINE_PATTERN, extra={"text": "person"})]
"""An optional personal name (firstName, lastName): empty, or with at least one visible character."""


class UserCreate(Body):
    local_extension: ClassVar[bool] = True

    email: Email
    first_name: PersonName | None | UnsetType = UNSET
    last_name: PersonName | None | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    image_url: Annotated[str, Meta(max_length=2048)] | None | UnsetType = UNSET


class Invite(Body):
    email_address: Email
    role: Role | UnsetType = UNSET


class RoleChange(Body):
    role: Annotated[Role, Meta(extra={"required": "role is required"})]


# -- contact methods (local) -------------------------------------------------------------------------

Channel = Literal["log", "webhook", "command", "apprise"]
Address = Annotated[str, Meta(min_length=1, max_length=2048)]
"""A webhook's http(s) URL, an Apprise URL or a command line; the channel's own rules are
engine/service/contacts.py's."""
Secret = Annotated[str, Meta(min_length=16, max_length=256)]


class ContactMethodCreate(Body, kw_only=True):
    local_extension: ClassVar[bool] = True

    channel: Channel
    address: (
        Annotated[
            Address | None,
            Meta(
                description="webhook: an http(s) URL (no user:password, a host that is public or on the "
                "operator's allow-list); apprise: an Apprise URL (mailtos://, ntfy://, pover://, slack://, "
                "json://, …; stored sealed, answered masked as scheme://host/…; its server public or on the "
                "operator's allow-list); command: a shell-quoted command line (operator only: 403 "
                "through any API key); log: none (absent or null)"
            ),
        ]
        | UnsetType
    ) = UNSET
    secret: (
        Annotated[
            Secret | None,
            Meta(description="webhook only: the HMAC signing secret (generated when absent or null)"),
        ]
        | UnsetType
    ) = UNSET


class ContactMethodUpdate(Body):
    local_extension: ClassVar[bool] = True

    address: (
        Annotated[
            Address | None, Meta(description="as on create, for the method's channel (null only for log)")
        ]
        | UnsetType
    ) = UNSET
    secret: Annotated[Secret, Meta(description="webhook only: a new signing secret")] | UnsetType = UNSET


# -- notification rules and shift reminders (local extension) ------------------------------------------

Urgency = Literal["high", "low"]
RuleDelay = Annotated[int, Meta(ge=0, le=LONGEST_RULE_DELAY_MINUTES, extra_json_schema=_LOCAL)]


class NotificationRuleCreate(Body, kw_only=True):
    """One step of a person's notification rules: this contact method, ``delayMinutes`` after the page."""

    local_extension: ClassVar[bool] = True

    urgency: Annotated[
        Urgency,
        Meta(
            description="high: critical and high incidents; low: medium and low",
            extra={"required": "urgency is required"},
        ),
    ]
    contact_method_id: Annotated[
        Id,
        Meta(
            description="one of the person's contact methods",
            extra={"required": "contactMethodId is required"},
        ),
    ]
    delay_minutes: Annotated[
        RuleDelay,
        Meta(description="minutes after the page, while it is unacknowledged"),
    ] = 0


class RuleMove(Body, kw_only=True):
    """Move a step one place earlier (``up``) or later (``down``): its contact method swaps slots with the
    neighbouring step's; the delays stay where they are."""

    local_extension: ClassVar[bool] = True

    direction: Annotated[Literal["up", "down"], Meta(extra={"required": "direction is required"})]


ReminderLead = Annotated[int, Meta(ge=1, le=LONGEST_REMINDER_LEAD_MINUTES, extra_json_schema=_LOCAL)]


class ShiftReminders(Body):
    """What a person is told about their own shifts (overrides included): ``beforeMinutes`` ahead of a
    shift's start (null: not), and when it starts and ends. Fields left out keep their value."""

    local_extension: ClassVar[bool] = True

    before_minutes: (
        Annotated[ReminderLead | None, Meta(description="minutes before a shift starts")] | UnsetType
    ) = UNSET
    at_start: bool | UnsetType = UNSET
    at_end: bool | UnsetType = UNSET


# -- heartbeats (local) ------------------------------------------------------------------------------

HeartbeatName = Annotated[str, name(80)]
"""80 characters at most, so the incident a missed interval opens can name it in a 100-character title."""
IntervalMinutes = Annotated[int, Meta(ge=1, le=MAX_ACK_TIMEOUT_MINUTES, description="minutes between pings")]
GraceMinutes = Annotated[
    int, Meta(ge=0, le=MAX_ACK_TIMEOUT_MINUTES, description="minutes a ping may be late before it is missed")
]


class HeartbeatCreate(Body, kw_only=True):
    name: HeartbeatName
    escalation_policy_id: Id
    interval_minutes: IntervalMinutes
    grace_minutes: GraceMinutes | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET


class HeartbeatUpdate(Body):
    name: HeartbeatName | UnsetType = UNSET
    escalation_policy_id: Id | UnsetType = UNSET
    interval_minutes: IntervalMinutes | UnsetType = UNSET
    grace_minutes: GraceMinutes | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET


REQUESTS: tuple[type[Body], ...] = (
    PolicyCreate,
    PolicyUpdate,
    EscalationLayerCreate,
    EscalationLayerUpdate,
    LayerOrder,
    IncidentCreate,
    StatusChange,
    UpdateCreate,
    Handoff,
    Escalate,
    Snooze,
    ScheduleCreate,
    ScheduleUpdate,
    RotationLayerCreate,
    RotationLayerUpdate,
    OverrideCreate,
    UserCreate,
    Invite,
    RoleChange,
    ContactMethodCreate,
    ContactMethodUpdate,
    NotificationRuleCreate,
    RuleMove,
    ShiftReminders,
    HeartbeatCreate,
    HeartbeatUpdate,
)
"""Every request model, for the OpenAPI document's components."""


# -- inbound integrations and maintenance windows (docs/ALERTS.md) -----------------------------------

IntegrationKind = Literal["alertmanager", "grafana", "events"]
ComponentName = Annotated[str, name(100)]
SeverityMap = Annotated[
    dict[str, Severity],
    Meta(max_length=50, description="a source's severity label (any case) → our severity"),
]


class LabelMatcher(Body):
    key: Annotated[str, name(255)]
    value: Annotated[str, Meta(max_length=1024)]


class RoutingSelector(Body):
    """Labels to match (all of them, case-insensitively) and the routing they choose."""

    matchers: Annotated[list[LabelMatcher], Meta(min_length=1, max_length=20)]
    escalation_policy_id: Id | None | UnsetType = UNSET
    component: ComponentName | None | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET


Selectors = Annotated[list[RoutingSelector], Meta(max_length=50)]
FlapWindow = Annotated[int, Meta(ge=0, le=86_400, description="seconds")]


class IntegrationCreate(Body):
    local_extension: ClassVar[bool] = True

    name: Name
    kind: IntegrationKind
    escalation_policy_id: Id | None | UnsetType = UNSET
    component: ComponentName | None | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    severity_map: SeverityMap | UnsetType = UNSET
    selectors: Selectors | UnsetType = UNSET
    auto_resolve: bool | UnsetType = UNSET
    flap_window_seconds: FlapWindow | UnsetType = UNSET


class IntegrationUpdate(Body):
    local_extension: ClassVar[bool] = True

    name: Name | UnsetType = UNSET
    escalation_policy_id: Id | None | UnsetType = UNSET
    component: ComponentName | None | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    severity_map: SeverityMap | UnsetType = UNSET
    selectors: Selectors | UnsetType = UNSET
    auto_resolve: bool | UnsetType = UNSET
    flap_window_seconds: FlapWindow | UnsetType = UNSET


class SelectorsReplace(Body):
    selectors: Selectors


class MaintenanceStart(Body):
    local_extension: ClassVar[bool] = True

    scope: Literal["org", "integration", "component"]
    integration_id: Id | UnsetType = UNSET
    component: ComponentName | UnsetType = UNSET
    mode: Literal["hold", "drop"] | UnsetType = UNSET
    starts_at: Instant | UnsetType = UNSET
    ends_at: Instant | UnsetType = UNSET
    duration_minutes: Annotated[int, Meta(ge=1, le=LONGEST_WAIT_MINUTES * 5)] | UnsetType = UNSET
    reason: Annotated[str, text(1_000)] | UnsetType = UNSET


ALERT_REQUESTS: tuple[type[Body], ...] = (
    IntegrationCreate,
    IntegrationUpdate,
    SelectorsReplace,
    MaintenanceStart,
)
"""The request models of integrations and maintenance windows (part of :data:`REQUESTS`)."""
REQUESTS = REQUESTS + ALERT_REQUESTS
