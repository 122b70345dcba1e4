"""The incident actions shared by the list and the detail screen: ack, advance, hand off, escalate, new."""

from __future__ import annotations

from typing import Any

from console.tui.presentation import SEVERITY_LOOK
from console.tui.screens.base import OncallScreen
from console.tui.screens.form import Field, FormScreen
from console.tui.screens.picker import PickerScreen
from engine.model import SEVERITIES, next_status
from engine.service import incidents as incidents_svc
from engine.service import policies, schedules


class IncidentActions(OncallScreen):
    """Subclasses say which incident is current; the actions and their availability live here."""

    def current_incident(self) -> dict[str, Any] | None:
        """``{"id", "seq", "status", "acknowledged"}`` of the incident the keys act on, or None."""
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("acknowledge", "advance", "handoff", "escalate", "open", "post_update"):
            inc = self.current_incident()
            if inc is None:
                return None
            if inc.get("drill") and action != "acknowledge":
                return None  # a drill is only acknowledged; it lives on a scratch copy, not in the database
            if action == "acknowledge" and inc["acknowledged"]:
                return None
            if action == "escalate" and not inc.get("escalates", True):
                return None
            if inc["status"] == "resolved" and action != "open":
                return None
        return True

    def _label(self, inc: dict[str, Any]) -> str:
        return f"#{inc['seq']}"

    def action_acknowledge(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        if inc.get("drill"):
            self.oncall.acknowledge_drill()
            return
        self.oncall.act_in_worker(
            incidents_svc.acknowledge, inc["id"], done=f"{self._label(inc)} acknowledged"
        )

    def action_advance(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        nxt = next_status(inc["status"])
        if nxt is None:
            self.flash(f"{self._label(inc)} is resolved; its status can no longer change", error=True)
            return
        if nxt != "resolved":
            self.oncall.act_in_worker(
                incidents_svc.advance_status,
                inc["id"],
                {"status": nxt},
                done=f"{self._label(inc)} → {nxt}",
            )
            return

        def resolve(values: dict[str, Any]) -> Any:
            body = {"status": "resolved", "resolutionNote": values.get("resolutionNote")}
            return incidents_svc.advance_status(self.oncall.ctx, inc["id"], body)

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.flash(f"{self._label(inc)} resolved")

        form = FormScreen(
            f"Resolve {self._label(inc)}",
            [
                Field(
                    "resolutionNote",
                    "Resolution note",
                    required=True,
                    placeholder="what fixed it, what follows",
                )
            ],
            resolve,
            ok="Resolve",
        )
        self.app.push_screen(form, done)

    def action_handoff(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        users = [(uid, name) for name, uid in self.oncall.directory.people()]

        def chosen(user_id: str | None) -> None:
            if user_id:
                name = self.oncall.directory.name(user_id)
                self.oncall.act_in_worker(
                    incidents_svc.handoff,
                    inc["id"],
                    {"targetUserId": user_id},
                    done=f"{self._label(inc)} handed off to {name}",
                    poke=True,
                )

        self.app.push_screen(
            PickerScreen(f"Hand off {self._label(inc)} to…", users, current=inc.get("owner_id")), chosen
        )

    def action_escalate(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        self.oncall.act_in_worker(
            incidents_svc.escalate_now, inc["id"], done=f"{self._label(inc)} escalated", poke=True
        )

    def action_new(self) -> None:
        ctx = self.oncall.ctx
        pols = [(p["name"], p["id"]) for p in policies.list_policies(ctx)]
        people = self.oncall.directory.people()
        scheds = [(s["name"], s["id"]) for s in schedules.list_schedules(ctx)]
        sev_options = [(f"{SEVERITY_LOOK[s][0]} {s}", s) for s in SEVERITIES]
        fields = [
            Field("title", "Title", required=True, placeholder="what is broken, for whom"),
            Field("severity", "Severity", kind="select", options=sev_options, required=True),
            Field("description", "Description", placeholder="optional"),
            Field("escalationPolicyId", "Escalation policy", kind="select", options=pols),
            Field("ownerId", "Owner", kind="select", options=people),
            Field(
                "ownerScheduleId",
                "Owner schedule",
                kind="select",
                options=scheds,
                help="the person on call there owns it (and its policy pages, if none is chosen)",
            ),
        ]

        def create(values: dict[str, Any]) -> Any:
            body = {k: v for k, v in values.items() if v is not None}
            return incidents_svc.create_incident(ctx, body)

        def done(result: Any) -> None:
            if isinstance(result, dict):
                self.oncall.engine.poke()
                self.oncall.data_changed()
                self.flash(f"#{result['sequentialId']} opened: {result['title']}")

        self.app.push_screen(FormScreen("New incident", fields, create, ok="Open incident"), done)
