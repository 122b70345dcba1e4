"""Recorded real-shaped payloads (tests/alerts/payloads) and small builders."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.clock import monotonic

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> Any:
    """A recorded payload by file stem, decoded (a fresh copy each call)."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def am_group(
    status: str, *fingerprints: str, group: str = "g1", severity: str = "critical"
) -> dict[str, Any]:
    """An Alertmanager v4 webhook payload for group ``group`` with one alert per fingerprint."""
    return {
        "version": "4",
        "receiver": "oncall",
        "status": status,
        "groupKey": group,
        "groupLabels": {"alertname": "Down"},
        "commonLabels": {"alertname": "Down", "severity": severity},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "Down", "severity": severity, "instance": fp},
                "annotations": {"summary": f"{fp} is down"},
                "startsAt": "2026-04-07T09:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom:9090/graph",
                "fingerprint": fp,
            }
            for fp in fingerprints
        ],
    }


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); ``timeout`` only says when to give up."""
    start = monotonic()
    while not (value := predicate()):
        if monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return value
