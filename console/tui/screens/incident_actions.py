"""The incident actions shared by the list and the detail screen: ack, advance, hand off, escalate, new.

Acknowledging is one key (it stops paging). Advancing the status and escalating page or change what others
see, so both ask first in a dialog that names the incident (number and title) and what will happen;
resolving asks for its note instead. A hand-off to the incident's current owner is refused in the picker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.tui.presentation import SEVERITY_LOOK
from console.tui.screens.base import OncallScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import Field, FormScreen
from console.tui.screens.picker import PickerScreen
from engine.errors import DomainError, ValidationError
from engine.model import SEVERITIES, next_status

if TYPE_CHECKING:
    from types import ModuleType


def incidents_svc() -> ModuleType:
    """``engine.service.incidents``, imported on the first action: it brings the escalator and the
    rotation rules, which the first frame does not need (the embedded engine loads them after it)."""
    from engine.service import incidents

    return incidents


class IncidentActions(OncallScreen):
    """Subclasses say which incident is current; the actions and their availability live here."""

    def current_incident(self) -> dict[str, Any] | None:
        """``{"id", "seq", "title", "status", "acknowledged", "owner_id", "escalates", "layer",
        "layer_count"}`` of the incident the keys act on (the last four optional), or None."""
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

    def _named(self, inc: dict[str, Any]) -> str:
        """The incident as a dialog names it: ``#3 “Checkout errors”``."""
        title = inc.get("title")
        return f"#{inc['seq']} “{title}”" if title else f"#{inc['seq']}"

    def action_acknowledge(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        if inc.get("drill"):
            self.oncall.acknowledge_drill()
            return
        self.oncall.act_in_worker(
            incidents_svc().acknowledge, inc["id"], done=f"{self._label(inc)} acknowledged"
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

            def answer(yes: bool | None) -> None:
                if yes:
                    self.oncall.act_in_worker(
                        incidents_svc().advance_status,
                        inc["id"],
                        {"status": nxt},
                        done=f"{self._label(inc)} → {nxt}",
                    )

            self.app.push_screen(
                ConfirmScreen(f"Move {self._named(inc)} from {inc['status']} to {nxt}?", yes="Move"), answer
            )
            return

        def resolve(values: dict[str, Any]) -> Any:
            body = {"status": "resolved", "resolutionNote": values.get("resolutionNote")}
            return incidents_svc().advance_status(self.oncall.ctx, inc["id"], body)

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
                    incidents_svc().handoff,
                    inc["id"],
                    {"targetUserId": user_id},
                    done=f"{self._label(inc)} handed off to {name}",
                    poke=True,
                )

        owner = inc.get("owner_id")
        refuse = (
            None
            if owner is None
            else f"{self.oncall.directory.name(owner)} already owns {self._label(inc)}: choose someone else"
        )
        self.app.push_screen(
            PickerScreen(f"Hand off {self._named(inc)} to…", users, current=owner, refuse_current=refuse),
            chosen,
        )

    def action_escalate(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        if not inc.get("escalates", True):  # nothing would be paged: the service says why, no dialog
            self.oncall.act_in_worker(incidents_svc().escalate_now, inc["id"])
            return
        layer, count = inc.get("layer"), inc.get("layer_count")
        if layer and count and layer < count:
            what = f"page layer {layer + 1} of {count} now"
        elif layer and count:
            what = f"go past its last layer ({count} of {count}; only a repeating policy starts over)"
        else:
            what = "page the next layer now"

        def answer(yes: bool | None) -> None:
            if yes:
                self.oncall.act_in_worker(
                    incidents_svc().escalate_now, inc["id"], done=f"{self._label(inc)} escalated", poke=True
                )

        self.app.push_screen(ConfirmScreen(f"Escalate {self._named(inc)}: {what}?", yes="Escalate"), answer)

    def action_new(self) -> None:
        ctx = self.oncall.ctx
        from engine.service import policies, schedules

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

        warned: set[str] = set()

        def create(values: dict[str, Any]) -> Any:
            body = {k: v for k, v in values.items() if v is not None}
            pid = body.get("escalationPolicyId")
            if pid and pid not in warned and (warning := self._pages_nobody(pid)):
                warned.add(pid)  # said once: saving again opens it anyway
                raise ValidationError(f"{warning} · ctrl+s again opens it anyway", field="escalationPolicyId")
            return incidents_svc().create_incident(ctx, body)

        def done(result: Any) -> None:
            if isinstance(result, dict):
                self.oncall.engine.poke()
                self.oncall.data_changed()
                self.flash(f"#{result['sequentialId']} opened: {result['title']}")

        self.app.push_screen(FormScreen("New incident", fields, create, ok="Open incident"), done)

    def _pages_nobody(self, policy_id: str) -> str | None:
        """Why opening an incident on this policy would page nobody now (no layers, or no layer's target
        has anyone on call), as the drill warns; None when someone would be paged."""
        try:
            from engine.service import policies

            paged = policies.paged_now(self.oncall.ctx, policy_id)
        except (DomainError, ValueError):
            return None  # the service call itself will say what is wrong
        if not paged:
            return "this policy has no layers: nobody would be paged"
        if not any(r.user_ids for r in paged.values()):
            return "no layer of this policy pages anybody now"
        return None
