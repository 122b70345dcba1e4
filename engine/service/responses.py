"""The response bodies of the use cases, as msgspec Structs: the one declaration of each answer's fields.

Each Struct names a field once (snake_case here, camelCase on the wire through ``rename="camel"``), in
the order the answer lists it (msgspec encodes fields in declaration order, so key order is part of the
declaration), with its type, enum and nullability; ``Annotated[…, Meta(…)]`` adds what the OpenAPI
document says about it. A field without a default is always present (``None`` is answered as ``null``);
a field defaulting to ``UNSET`` is left out of the answer unless set.

The service modules' wire builders (``incident_wire``, ``policy_wire``…) build these Structs and hand the
surfaces :func:`wire` of them (plain dicts and lists, exactly what the HTTP API answers under ``data``),
so the CLI, the console and sync keep working on builtins. ``console/api/openapi.py`` takes their JSON
Schema (``msgspec.json.schema_components``) for the document's response schemas; they forbid unknown
fields there, so schemathesis's response check notices an answer with a key the model does not declare.

A model whose whole shape is a local extension (not in the Scaling API) sets ``local_extension = True``;
single local fields carry ``Meta(extra_json_schema=LOCAL)``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from engine.escalation import STATES
from engine.model import ROLES, ROTATION_TYPES
from engine.service.models import Channel, Severity, Status, Target, Urgency

LOCAL: dict[str, Any] = {"x-local-extension": True}

Id = Annotated[str, Meta(min_length=1, description="an opaque id")]
Timestamp = Annotated[
    str,
    Meta(
        description="ISO 8601 UTC with milliseconds, e.g. 2026-04-07T10:00:00.000Z",
        extra_json_schema={"format": "date-time"},
    ),
]
Role = Literal[ROLES]  # type: ignore[valid-type]
RotationType = Literal[ROTATION_TYPES]  # type: ignore[valid-type]
EscalationStateName = Literal[STATES]  # type: ignore[valid-type]


class Wire(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """A response body: camelCase on the wire, every field declared (unknown fields refused when read)."""

    local_extension: ClassVar[bool] = False


def wire(value: Any) -> Any:
    """``value`` (a Struct, or lists/dicts of them) as the builtins the API answers: dicts in field order,
    ``UNSET`` fields left out."""
    return msgspec.to_builtins(value)


# -- errors ------------------------------------------------------------------------------------------


class Error(Wire):
    """Every error answer: key on the HTTP status first, then on ``code``."""

    status_code: int
    type: Literal["not_authorized_error", "invalid_request_error", "validation_error", "internal_error"]
    code: str
    request_id: Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
    message: str
    field: (
        Annotated[
            str,
            Meta(description="validation errors: the offending field, when known", extra_json_schema=LOCAL),
        ]
        | UnsetType
    ) = UNSET
    details: (
        Annotated[
            Any,
            Meta(
                description="extra machine-readable detail, e.g. for invalid_layer_order",
                extra_json_schema=LOCAL,
            ),
        ]
        | UnsetType
    ) = UNSET


# -- escalation policies and layers ------------------------------------------------------------------


class Policy(Wire):
    id: Id
    org_id: Id
    name: str
    description: str | None
    repeat: Annotated[
        int,
        Meta(description="times the whole policy is repeated after the last layer", extra_json_schema=LOCAL),
    ]
    repage_after_minutes: Annotated[int | None, Meta(extra_json_schema=LOCAL)]
    created_by: str | None
    created_at: Timestamp
    updated_at: Timestamp


class EscalationLayer(Wire):
    id: Id
    policy_id: Id
    org_id: Id
    position: Annotated[int, Meta(ge=1, description="1-based; 1 is paged first")]
    ack_timeout_minutes: int
    target: Target
    created_at: Timestamp
    updated_at: Timestamp


class PolicyWithLayers(Policy):
    layers: list[EscalationLayer]


# -- schedules, rotation layers, overrides, resolution ----------------------------------------------


class Schedule(Wire):
    id: Id
    org_id: Id
    name: str
    description: str | None
    timezone: str
    created_by: str | None
    created_at: Timestamp
    updated_at: Timestamp


class RotationLayer(Wire):
    id: Id
    schedule_id: Id
    name: str
    position: Annotated[int, Meta(ge=0, description="0-based, server-assigned; 0 bears the owner")]
    rotation_type: RotationType
    rotation_length_days: int
    handoff_time: str
    effective_from: Timestamp
    effective_until: Timestamp | None
    participant_ids: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class Override(Wire):
    """A user covering [start, end) of a schedule; it displaces the owner-bearing layer."""

    local_extension: ClassVar[bool] = True

    id: Id
    schedule_id: Id
    user_id: Id
    start: Timestamp
    end: Timestamp
    note: str | None
    created_by: str | None
    created_at: Timestamp


class ScheduleWithLayers(Schedule):
    layers: list[RotationLayer]
    overrides: Annotated[list[Override], Meta(extra_json_schema=LOCAL)]


class LayerOnCall(Wire):
    """One rotation layer's answer at the instant asked."""

    layer_id: Id
    name: str
    position: int
    active: bool
    user_id: str | None
    shift_start: Timestamp | None
    shift_end: Timestamp | None
    displaced_by_override: bool


class ActiveOverride(Wire):
    id: Id
    user_id: Id
    start: Timestamp
    end: Timestamp


class Resolution(Wire):
    """Who is on call at ``at``: the Schedule Owner, the Paging Targets and each layer's on-call."""

    schedule_id: Id
    at: Timestamp
    schedule_owner: str | None
    paging_targets: list[str]
    current_oncall: list[LayerOnCall]
    override: ActiveOverride | None
    next_handoff: Timestamp | None


# -- incidents ---------------------------------------------------------------------------------------


class Component(Wire):
    id: Id
    name: str


class Incident(Wire):
    id: Id
    org_id: Id
    title: str
    description: str | None
    severity: Severity
    status: Status
    owner_id: str | None
    escalation_policy_id: str | None
    affected_components: Annotated[
        list[Component], Meta(description="always [] locally: there is no component catalog")
    ]
    created_by: str | None
    created_at: Timestamp
    updated_at: Timestamp
    # Local additions (docs/API.md):
    sequential_id: Annotated[int, Meta(extra_json_schema=LOCAL)]
    acknowledged_at: Annotated[Timestamp | None, Meta(extra_json_schema=LOCAL)]
    acknowledged_by: Annotated[str | None, Meta(extra_json_schema=LOCAL)]
    resolved_at: Annotated[Timestamp | None, Meta(extra_json_schema=LOCAL)]
    is_drill: Annotated[bool, Meta(extra_json_schema=LOCAL)]


class EscalationState(Wire):
    """The escalation of an incident with a policy (what the console shows as "2/3" and a countdown)."""

    local_extension: ClassVar[bool] = True

    policy_id: Id
    state: EscalationStateName
    current_layer: Annotated[int, Meta(ge=0, description="1-based; 0 when the policy has no layers")]
    layer_count: int
    loop: int
    loops: Annotated[int, Meta(ge=1, description="the policy's repeat + 1")]
    next_escalation_at: Timestamp | None
    repage_at: Timestamp | None
    snoozed_until: Timestamp | None
    acknowledged_by: str | None
    started_at: Timestamp
    generation: int


class StatusHistoryEntry(Wire):
    id: Id
    status: Status
    changed_at: Timestamp
    resolution_note: str | None


class TimelineEntry(Wire):
    """One row of the paging audit trail (incident_created, layer_paged, …)."""

    id: Id
    at: Timestamp
    kind: str
    actor: str | None
    data: dict[str, Any]


Escalation = Annotated[
    EscalationState | None,
    Meta(description="the escalation state; null without a policy", extra_json_schema=LOCAL),
]


class IncidentWithEscalation(Incident):
    escalation: Escalation


class IncidentDetail(Incident):
    status_history: list[StatusHistoryEntry]
    escalation: Escalation
    timeline: Annotated[list[TimelineEntry], Meta(description="the paging audit trail, oldest first")]


class IncidentPage(Wire):
    """One page of incidents, newest first; ``nextCursor`` is null on the last page."""

    incidents: list[Incident]
    next_cursor: str | None


class Person(Wire):
    id: Id
    name: str


class IncidentUpdate(Wire):
    id: Id
    incident_id: Id
    body: str | None
    status_change: Status | None
    visibility: Literal["internal", "public"]
    posted_by: Person | None
    posted_at: Timestamp
    redacted_at: Timestamp | None
    redacted_by: Person | None


class IncidentUpdates(Wire):
    updates: list[IncidentUpdate]


# -- people: members, invitations, users, contact methods, keys ----------------------------------------


class Member(Wire):
    id: Id
    email: str
    first_name: str | None
    last_name: str | None
    image_url: str | None
    role: Role
    joined_at: Timestamp


class Invitation(Wire):
    id: Id
    email_address: str
    role: Role
    status: Literal["pending", "accepted", "revoked"]
    created_at: Timestamp


class MembersAndInvitations(Wire):
    members: list[Member]
    invitations: list[Invitation]


class Users(Wire):
    users: list[Member]


class ContactMethod(Wire):
    """How a user is paged: log (the timeline only), webhook (a signed JSON POST), apprise (an Apprise URL:
    email, ntfy, Pushover, Slack, Matrix, Teams, …; stored sealed, always answered masked) or command (a
    program run with the page as JSON on stdin). The secret is never shown again."""

    local_extension: ClassVar[bool] = True

    id: Id
    user_id: Id
    channel: Channel
    address: Annotated[
        str | None,
        Meta(
            description="the webhook URL, the apprise URL masked to scheme and server (ntfys://ntfy.sh/…), "
            "or the command line; null for log"
        ),
    ]
    has_secret: Annotated[bool, Meta(description="a webhook has a signing secret")]
    created_at: Timestamp


class ContactMethodCreated(ContactMethod):
    """A new contact method; a webhook's signing secret is in this answer only."""

    secret: (
        Annotated[str, Meta(description="webhooks only: the HMAC signing secret, shown in this answer only")]
        | UnsetType
    ) = UNSET


class ContactMethods(Wire):
    local_extension: ClassVar[bool] = True

    contact_methods: list[ContactMethod]


class NotificationRuleStep(Wire):
    """One step of a person's notification rules: page this contact method ``delayMinutes`` after the
    page while it is unacknowledged (docs/PAGES.md, "Notification rules")."""

    local_extension: ClassVar[bool] = True

    id: Id
    user_id: Id
    urgency: Annotated[Urgency, Meta(description="high: critical and high incidents; low: medium and low")]
    step: Annotated[int, Meta(ge=0, description="0-based place in the firing order")]
    delay_minutes: Annotated[int, Meta(ge=0, description="minutes after the page")]
    contact_method_id: Id
    channel: Channel
    created_at: Timestamp


class NotificationRules(Wire):
    """A person's notification rules per urgency, each in firing order."""

    local_extension: ClassVar[bool] = True

    high: list[NotificationRuleStep]
    low: list[NotificationRuleStep]


class ShiftReminder(Wire):
    """A reminder about one of the person's shifts: ``before`` its start, at its ``start`` or ``end``."""

    local_extension: ClassVar[bool] = True

    at: Timestamp
    kind: Literal["before", "start", "end"]
    schedule_id: Id
    shift_start: Timestamp
    shift_end: Timestamp


class ShiftReminderSettings(Wire):
    """What a person is told about their own shifts, their next reminder and the latest ones sent."""

    local_extension: ClassVar[bool] = True

    user_id: Id
    before_minutes: Annotated[int, Meta(ge=1)] | None
    at_start: bool
    at_end: bool
    next_reminder: ShiftReminder | None
    sent: list[ShiftReminder]


class Organisation(Wire):
    id: Id
    name: str
    created_at: Timestamp


class ApiKey(Wire):
    """An API key as listed (never the key itself: ``masked`` shows its last characters)."""

    id: Id
    name: str | None
    user_id: str | None
    masked: str
    created_at: Timestamp
    revoked_at: Timestamp | None


# -- alerts in: inbound integrations, alerts, maintenance windows (docs/ALERTS.md) --------------------

IntegrationKind = Literal["alertmanager", "grafana", "events"]


class SelectorMatcher(Wire):
    key: str
    value: str


class IntegrationSelector(Wire):
    """A selector's matchers and the routing fields it sets (one left out is the integration's default)."""

    matchers: list[SelectorMatcher]
    escalation_policy_id: str | None | UnsetType = UNSET
    component: str | None | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET


class Integration(Wire):
    """An inbound integration (never its token)."""

    id: Id
    org_id: Id
    name: str
    kind: IntegrationKind
    escalation_policy_id: str | None
    component: str | None
    severity: Severity
    severity_map: dict[str, Severity]
    selectors: list[IntegrationSelector]
    auto_resolve: bool
    flap_window_seconds: int
    token_last4: str | None
    created_at: Timestamp
    updated_at: Timestamp


class IntegrationWithToken(Integration):
    """An integration just created or rotated: its URL token, shown this once."""

    local_extension: ClassVar[bool] = True
    token: str
    receive_path: str


class Integrations(Wire):
    integrations: list[Integration]


class AlertLink(Wire):
    href: str
    text: str


class Alert(Wire):
    """One alert (its raw payload only from ``GET /v1/alerts/{alertId}``)."""

    local_extension: ClassVar[bool] = True
    id: Id
    integration_id: Id
    incident_id: str | None
    dedup_key: str
    group_key: str
    status: Literal["firing", "resolved", "acknowledged"]
    summary: str
    severity: Severity
    source: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[AlertLink]
    count: int
    first_seen: Timestamp
    last_seen: Timestamp
    resolved_at: Timestamp | None
    dropped_by: str | None
    raw_truncated: bool


class AlertWithRaw(Alert):
    raw: str


class Alerts(Wire):
    local_extension: ClassVar[bool] = True
    alerts: list[Alert]


class IncidentAlerts(Wire):
    """The alerts of an incident opened by alerts: counts, first/last seen, common labels, links."""

    local_extension: ClassVar[bool] = True
    incident_id: Id
    integration_id: Id
    integration_name: str | None
    count: int
    firing: int
    first_seen: Timestamp
    last_seen: Timestamp
    held_by: str | None
    labels: dict[str, str]
    links: list[AlertLink]
    alerts: list[Alert]


class ReceivedAlert(Wire):
    alert_id: str | None
    incident_id: str | None
    action: Literal["open", "attach", "repeat", "refire", "resolve", "acknowledge", "ignore", "dropped"]


class AlertReceipt(Wire):
    """What each alert of a received payload did."""

    local_extension: ClassVar[bool] = True
    integration_id: Id
    accepted: int
    alerts: list[ReceivedAlert]


class MaintenanceWindow(Wire):
    local_extension: ClassVar[bool] = True
    id: Id
    org_id: Id
    scope: Literal["org", "integration", "component"]
    integration_id: str | None
    component: str | None
    mode: Literal["hold", "drop"]
    reason: str | None
    starts_at: Timestamp
    ends_at: Timestamp
    ended_early: bool
    state: Literal["scheduled", "active", "ended"]
    created_by: str | None
    created_at: Timestamp


class MaintenanceWindows(Wire):
    local_extension: ClassVar[bool] = True
    maintenance_windows: list[MaintenanceWindow]


# -- heartbeats (docs/ALERTS.md, "Heartbeats") ----------------------------------------------------------


class Heartbeat(Wire):
    """A dead man's switch: a job pings its URL every intervalMinutes; a ping later than interval + grace
    opens an incident on the escalation policy, and the next ping resolves it."""

    local_extension: ClassVar[bool] = True

    id: Id
    org_id: Id
    name: str
    escalation_policy_id: Id
    severity: Severity
    interval_minutes: int
    grace_minutes: int
    status: Annotated[
        Literal["waiting", "up", "down"],
        Meta(description="waiting: never pinged; up: pinged in time; down: missed, incidentId open"),
    ]
    last_ping_at: Timestamp | None
    ping_count: int
    due_at: Annotated[str | None, Meta(description="when a missed ping opens an incident; null while down")]
    incident_id: Annotated[str | None, Meta(description="the incident the last missed interval opened")]
    token: Annotated[str, Meta(description="the ping token, masked (hbt_…abcd); plain when just minted")]
    created_at: Timestamp
    updated_at: Timestamp


class HeartbeatWithToken(Heartbeat):
    """A heartbeat with its plain ping token and ping path, shown in this answer only."""

    ping_path: Annotated[str, Meta(description="/v1/integrations/inbound/heartbeats/{token}")]


class Heartbeats(Wire):
    local_extension: ClassVar[bool] = True

    heartbeats: list[Heartbeat]


class HeartbeatPing(Wire):
    """A ping recorded: when the next one is due, and the incident this one resolved (or null)."""

    local_extension: ClassVar[bool] = True

    heartbeat_id: Id
    status: Literal["up"]
    due_at: Timestamp
    resolved_incident_id: Id | None
