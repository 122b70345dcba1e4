"""Alerts in: the pure rules that turn a monitoring payload into decisions (docs/ALERTS.md).

No I/O and no clock reads: every function takes data (a decoded JSON payload, an integration's routing,
the open alert groups, the maintenance windows) and, where time matters, an instant, and returns values.
The use cases in ``engine/service/alerts.py`` load the rows, ask these rules, and write what they say.

* :func:`normalize` reads one payload of an integration's kind (``alertmanager``, ``grafana``,
  ``events``) into :class:`Alert` values, or raises :class:`PayloadError` naming what is wrong;
* :func:`route` picks the routing of an alert: the first :class:`Selector` whose matchers all match its
  labels (keys and values compared case-insensitively), else the integration's default;
* :func:`map_severity` maps a label value (``critical``, ``warning``…) to one of our severities;
* :func:`decide` says what one alert does to the alert it repeats and the incident it belongs to;
* :func:`window_verdict` says whether maintenance windows hold or drop an alert at an instant;
* :func:`clip_raw` keeps a raw payload within a size limit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.model import SEVERITIES

KINDS: tuple[str, ...] = ("alertmanager", "grafana", "events")
"""The kinds of inbound integration: the payload each one's receiver reads."""

EVENT_ACTIONS: tuple[str, ...] = ("trigger", "acknowledge", "resolve")

DEFAULT_SEVERITY_MAP: dict[str, str] = {
    "critical": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "high": "high",
    "error": "high",
    "major": "high",
    "warning": "medium",
    "warn": "medium",
    "medium": "medium",
    "minor": "medium",
    "info": "low",
    "informational": "low",
    "low": "low",
    "none": "low",
}
"""Label values (lower case) to our severities; an integration's ``severityMap`` entries override these.
A value in neither maps to the routing's default severity."""

MAX_RAW_BYTES = 16_384
"""At most this many bytes of one alert's raw payload (its UTF-8 JSON) are stored; longer ones are cut."""

MAX_LABELS = 64
MAX_LABEL_TEXT = 1_024
"""A payload's alert may carry at most 64 labels (and as many annotations); longer keys or values than
1,024 characters are cut (a label is a routing key, not a document)."""

MAX_ALERTS_PER_PAYLOAD = 1_000


class PayloadError(ValueError):
    """The payload does not have the kind's shape; the message names the first thing wrong."""


@dataclass(frozen=True)
class Alert:
    """One alert as every kind reads into: what grouping, routing and storage need.

    ``status``: ``firing`` | ``resolved`` | ``acknowledged`` (the last only from ``events``).
    ``dedup_key`` identifies the alert within its integration; ``group_key`` the group it belongs to (an
    Alertmanager group; for ``events`` the dedup key itself). ``severity_label`` is the source's own word
    (None when it gave none), mapped by :func:`map_severity`. ``links``: ``[{"href", "text"}]``.
    """

    dedup_key: str
    group_key: str
    status: str
    summary: str
    severity_label: str | None
    source: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[dict[str, str]]
    raw: Any = field(compare=False, repr=False)


# -- payloads ----------------------------------------------------------------------------------------


def _text(value: Any, limit: int = MAX_LABEL_TEXT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "".join(ch if ch.isprintable() else " " for ch in text[:limit])


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be a JSON object")
    if len(value) > MAX_LABELS:
        raise PayloadError(f"{where} has more than {MAX_LABELS} entries")
    return {_text(k): _text(v) for k, v in value.items() if v is not None}


def _labels_key(labels: Mapping[str, str]) -> str:
    """A stable key for a label set (when the source gives no fingerprint): sha256 of the sorted pairs."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _summary(*candidates: Any) -> str:
    """The first candidate with a visible character, on one line, at most 100 characters (an incident
    title's limit); "alert" when none has one."""
    for c in candidates:
        if isinstance(c, str):
            cleaned = " ".join(_text(c, 1024).split())[:100].strip()
            if cleaned:
                return cleaned
    return "alert"


def _prometheus_like(payload: Any, kind: str) -> list[Alert]:
    """Alertmanager's webhook (version 4) and Grafana's, which extends it: ``status``, ``groupKey``,
    ``alerts[]`` with ``status``, ``labels``, ``annotations``, ``fingerprint`` and links."""
    if not isinstance(payload, dict):
        raise PayloadError(f"a {kind} payload must be a JSON object")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError(f"a {kind} payload needs a non-empty alerts array")
    if len(alerts) > MAX_ALERTS_PER_PAYLOAD:
        raise PayloadError(f"a payload may carry at most {MAX_ALERTS_PER_PAYLOAD} alerts")
    group_key = payload.get("groupKey")
    common = _string_map(payload.get("commonLabels"), "commonLabels")
    out: list[Alert] = []
    for i, item in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} must be a JSON object")
        status = item.get("status", payload.get("status"))
        if status not in ("firing", "resolved"):
            raise PayloadError(f'{where}.status must be "firing" or "resolved"')
        labels = _string_map(item.get("labels"), f"{where}.labels")
        annotations = _string_map(item.get("annotations"), f"{where}.annotations")
        fingerprint = item.get("fingerprint")
        dedup = (
            _text(fingerprint, 255) if isinstance(fingerprint, str) and fingerprint else _labels_key(labels)
        )
        group = _text(group_key, 1024) if isinstance(group_key, str) and group_key else dedup
        links = [
            {"href": _text(item[name], 2048), "text": text}
            for name, text in (
                ("generatorURL", "source"),
                ("dashboardURL", "dashboard"),
                ("panelURL", "panel"),
                ("silenceURL", "silence"),
            )
            if isinstance(item.get(name), str) and item[name]
        ]
        summary = _summary(
            annotations.get("summary"),
            annotations.get("title"),
            labels.get("alertname"),
            common.get("alertname"),
            payload.get("title"),
        )
        out.append(
            Alert(
                dedup_key=dedup,
                group_key=group,
                status=status,
                summary=summary,
                severity_label=labels.get("severity") or common.get("severity"),
                source=labels.get("instance") or labels.get("job") or kind,
                labels=labels,
                annotations=annotations,
                links=links,
                raw=item,
            )
        )
    return out


_PD_ACTIONS = {"trigger": "firing", "acknowledge": "acknowledged", "resolve": "resolved"}


def _event(payload: Any) -> list[Alert]:
    """A generic event (``action``, ``dedupKey``, ``summary``, ``severity``, ``source``, ``details``),
    also read with PagerDuty Events v2's names (``event_action``, ``dedup_key``, ``payload.summary``,
    ``payload.severity``, ``payload.source``, ``payload.custom_details``, ``links``)."""
    if not isinstance(payload, dict):
        raise PayloadError("an event must be a JSON object")
    inner = payload.get("payload")
    if inner is not None and not isinstance(inner, dict):
        raise PayloadError("payload must be a JSON object")
    inner = inner or {}
    action = payload.get("action", payload.get("event_action"))
    if action not in _PD_ACTIONS:
        raise PayloadError('action must be "trigger", "acknowledge" or "resolve"')
    summary = payload.get("summary", inner.get("summary"))
    dedup = payload.get("dedupKey", payload.get("dedup_key"))
    if dedup is not None and (not isinstance(dedup, str) or not dedup.strip()):
        raise PayloadError("dedupKey must be a non-empty string")
    source = payload.get("source", inner.get("source"))
    if action == "trigger":
        if not isinstance(summary, str) or not summary.strip():
            raise PayloadError("summary is required to trigger")
        if dedup is None:  # PagerDuty mints one; ours is stable so repeats of the same event group
            dedup = _labels_key({"summary": summary, "source": str(source or "")})
    elif dedup is None:
        raise PayloadError(f"dedupKey is required to {action}")
    severity = payload.get("severity", inner.get("severity"))
    if severity is not None and not isinstance(severity, str):
        raise PayloadError("severity must be a string")
    details = payload.get("details", inner.get("custom_details"))
    labels = _string_map(payload.get("labels"), "labels")
    if isinstance(details, dict):
        annotations = _string_map(dict(list(details.items())[:MAX_LABELS]), "details")
    elif details is None:
        annotations = {}
    else:
        annotations = {"details": _text(details)}
    for name in ("component", "group", "class"):
        value = payload.get(name, inner.get(name))
        if isinstance(value, str) and name not in labels:
            labels[name] = _text(value)
    if severity is not None:
        labels.setdefault("severity", _text(severity))
    links: list[dict[str, str]] = []
    raw_links = payload.get("links", [])
    if isinstance(raw_links, list):
        for link in raw_links[:20]:
            if isinstance(link, dict) and isinstance(link.get("href"), str):
                links.append(
                    {"href": _text(link["href"], 2048), "text": _text(link.get("text") or "link", 255)}
                )
    client_url = payload.get("client_url")
    if isinstance(client_url, str) and client_url:
        links.append({"href": _text(client_url, 2048), "text": _text(payload.get("client") or "source", 255)})
    key = _text(dedup.strip(), 255)
    return [
        Alert(
            dedup_key=key,
            group_key=key,
            status=_PD_ACTIONS[action],
            summary=_summary(summary, key),
            severity_label=severity,
            source=_text(source, 255) if isinstance(source, str) else None,
            labels=labels,
            annotations=annotations,
            links=links,
            raw=payload,
        )
    ]


def normalize(kind: str, payload: Any) -> list[Alert]:
    """The alerts in ``payload`` (decoded JSON) for an integration of ``kind``, in payload order.

    Raises :class:`PayloadError` when it lacks the kind's shape, and ValueError for an unknown kind."""
    if kind in ("alertmanager", "grafana"):
        return _prometheus_like(payload, kind)
    if kind == "events":
        return _event(payload)
    raise ValueError(f"unknown integration kind {kind!r}")


def clip_raw(value: Any, limit: int = MAX_RAW_BYTES) -> tuple[str, bool]:
    """``value`` as compact JSON, cut to at most ``limit`` UTF-8 bytes: (text, whether it was cut).
    A cut text is not JSON any more; it is kept for people to read."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", errors="ignore"), True


# -- routing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Where an alert goes: an escalation policy (None: an incident nobody is paged for), a component
    name (or None) and the severity used when the alert's own label maps to none."""

    escalation_policy_id: str | None
    component: str | None = None
    default_severity: str = "high"
    selector: int | None = None  # the index of the selector that matched; None: the default


@dataclass(frozen=True)
class Selector:
    """Matchers (label key, value) that must all match, and the routing they choose (Scaling's
    inbound-integration selectors: ordered, first match wins)."""

    matchers: tuple[tuple[str, str], ...]
    routing: Routing


def matches(matchers: Iterable[tuple[str, str]], labels: Mapping[str, str]) -> bool:
    """Every matcher's key is among ``labels`` with an equal value, both compared case-insensitively."""
    folded = {k.casefold(): v.casefold() for k, v in labels.items()}
    return all(folded.get(k.casefold()) == v.casefold() for k, v in matchers)


def route(selectors: Sequence[Selector], labels: Mapping[str, str], default: Routing) -> Routing:
    """The first selector matching ``labels`` (its index recorded in ``selector``), else ``default``."""
    for i, sel in enumerate(selectors):
        if matches(sel.matchers, labels):
            return Routing(
                sel.routing.escalation_policy_id, sel.routing.component, sel.routing.default_severity, i
            )
    return default


def map_severity(label: str | None, overrides: Mapping[str, str], default: str) -> str:
    """Our severity for a source's ``severity`` label: the integration's map, then
    :data:`DEFAULT_SEVERITY_MAP` (keys compared case-insensitively), else ``default``."""
    if label is None:
        return default
    key = label.strip().casefold()
    for table in (overrides, DEFAULT_SEVERITY_MAP):
        for k, v in table.items():
            if k.casefold() == key and v in SEVERITIES:
                return v
    return default


# -- grouping ----------------------------------------------------------------------------------------

Action = Literal["open", "attach", "repeat", "refire", "resolve", "acknowledge", "ignore"]


@dataclass(frozen=True)
class Known:
    """What is stored of an alert's dedup key whose incident is still open: its status (``firing`` or
    ``resolved``)."""

    status: str


@dataclass(frozen=True)
class Decision:
    """What to do with one received alert.

    ``open``: a new incident (no open incident has the alert or its group); ``attach``: a new alert on
    the group's open incident; ``repeat``: the same alert again (count, last seen); ``refire``: an alert
    that had resolved fires again while its incident is open (a flap); ``resolve``: the alert stops
    firing; ``acknowledge``: an events ``acknowledge`` on the alert's open incident; ``ignore``: a resolve
    or acknowledge for nothing open (recorded nowhere: there is nothing to add it to)."""

    action: Action


def decide(alert: Alert, known: Known | None, group_open: bool) -> Decision:
    """The :class:`Decision` for ``alert``, given its stored state on an open incident (``known``, None if
    none) and whether its group has an open incident (``group_open``)."""
    if alert.status == "firing":
        if known is None:
            return Decision("attach" if group_open else "open")
        return Decision("refire" if known.status == "resolved" else "repeat")
    if known is None:
        return Decision("ignore")
    if alert.status == "resolved":
        return Decision("ignore" if known.status == "resolved" else "resolve")
    return Decision("acknowledge")


def should_resolve(firing_left: int, auto_resolve: bool) -> bool:
    """Whether an incident resolves now that ``firing_left`` of its alerts still fire."""
    return auto_resolve and firing_left == 0


# -- maintenance windows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A maintenance window: ``scope`` ``org`` | ``integration`` | ``component`` with its ``target``
    (integration id, component name; None for ``org``), ``[starts_at, ends_at)``, and ``mode`` ``hold``
    (incidents are opened but not paged until it ends) or ``drop`` (alerts are recorded, no incident)."""

    id: str
    scope: str
    target: str | None
    starts_at: datetime
    ends_at: datetime
    mode: str


def window_applies(window: Window, integration_id: str, component: str | None, at: datetime) -> bool:
    """Whether ``window`` covers an alert of ``integration_id`` routed to ``component`` at ``at``."""
    if not (window.starts_at <= at < window.ends_at):
        return False
    if window.scope == "org":
        return True
    if window.scope == "integration":
        return window.target == integration_id
    return (
        component is not None
        and window.target is not None
        and window.target.casefold() == component.casefold()
    )


@dataclass(frozen=True)
class Verdict:
    """``mode``: ``page`` (no window), ``hold`` or ``drop``; ``window`` the deciding window (for
    ``hold``: the one ending last, whose end starts the escalation)."""

    mode: str
    window: Window | None = None


def window_verdict(
    windows: Iterable[Window], integration_id: str, component: str | None, at: datetime
) -> Verdict:
    """A ``drop`` window covering the alert wins; else the ``hold`` window ending last; else ``page``."""
    covering = [w for w in windows if window_applies(w, integration_id, component, at)]
    drops = [w for w in covering if w.mode == "drop"]
    if drops:
        return Verdict("drop", min(drops, key=lambda w: w.ends_at))
    if covering:
        return Verdict("hold", max(covering, key=lambda w: w.ends_at))
    return Verdict("page")
