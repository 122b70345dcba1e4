"""The incidents table of ``oncall incidents`` (and of its ``--watch``): which incidents, and their rows."""

from __future__ import annotations

from typing import Any

from engine.service import Ctx, orgs
from engine.service import incidents as incidents_svc

INCIDENT_HEADERS = ["#", "SEV", "STATUS", "TITLE", "OWNER", "LAYER", "ACKED BY", "CREATED"]


def list_incidents(
    ctx: Ctx, *, status: str | None, severity: str | None, limit: int, show_all: bool
) -> list[dict[str, Any]]:
    """The incidents ``oncall incidents`` lists (wire form, newest first)."""
    page = incidents_svc.list_incidents(
        ctx, status=status, severity=severity, limit=limit, open_only=not show_all and status is None
    )
    items: list[dict[str, Any]] = page["incidents"]
    return items


def incident_rows(ctx: Ctx, items: list[dict[str, Any]]) -> list[list[Any]]:
    """The table rows of ``oncall incidents`` for ``items`` (one read of names and escalation states)."""
    names = orgs.user_names(ctx)
    states = incidents_svc.escalation_states(ctx, [inc["id"] for inc in items])
    rows = []
    for inc in items:
        esc = states.get(inc["id"])
        layer = f"{esc['currentLayer']}/{esc['layerCount']}" if esc and esc.get("layerCount") else "-"
        rows.append(
            [
                f"#{inc['sequentialId']}",
                inc["severity"].upper(),
                inc["status"],
                ("[DRILL] " if inc["isDrill"] else "") + inc["title"],
                names.get(inc["ownerId"] or "", "-"),
                layer,
                names.get(inc["acknowledgedBy"] or "", inc["acknowledgedBy"] or "-"),
                inc["createdAt"],
            ]
        )
    return rows
