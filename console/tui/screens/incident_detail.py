"""An incident up close: status history, updates (post, redact), the paging timeline and the alerts
monitoring sent about it, live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from console.terminal import terminal_text
from console.tui.presentation import (
    ago,
    countdown_text,
    plain,
    severity_text,
    stamp,
    status_text,
)
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import Field, FormScreen
from console.tui.screens.incident_actions import IncidentActions
from console.tui.widgets.alerts_view import AlertsView
from engine.errors import DomainError
from engine.service import alerts as alerts_svc
from engine.service import incidents as incidents_svc
from engine.service import policies
from engine.timefmt import parse_iso

EVENT_WORDS = {
    "incident_created": ("●", "opened"),
    "escalation_started": ("▶", "escalation started"),
    "layer_paged": ("☎", "paged"),
    "page_delivery_attempt": ("→", "delivery attempt"),
    "page_delivery_failed": ("✗", "delivery failed"),
    "page_delivery_unknown": ("?", "delivery unknown"),
    "escalation_timeout": ("⏱", "timed out"),
    "incident_acknowledged": ("✓", "acknowledged"),
    "escalation_acknowledged": ("✓", "escalation stopped by ack"),
    "status_changed": ("◑", "status"),
    "update_posted": ("✎", "update posted"),
    "update_redacted": ("✂", "update redacted"),
    "incident_handed_off": ("⇄", "handed off"),
    "incident_edited": ("✎", "edited"),
    "handoff_paged": ("☎", "hand-off paged"),
    "escalation_timer_restarted": ("↻", "timer restarted"),
    "layer_skipped": ("»", "layer skipped"),
    "escalation_exhausted": ("■", "escalation exhausted"),
    "escalation_repeated": ("↻", "policy repeated"),
    "escalation_stopped": ("■", "escalation stopped"),
    "escalation_snoozed": ("z", "snoozed"),
    "snooze_ended": ("⏰", "snooze ended"),
    "nobody_on_call": ("!", "nobody on call"),
    "incident_repaged": ("☎", "re-paged"),
    "escalated_manually": ("»", "escalated now"),
    "page_delivery_cancelled": ("∅", "delivery cancelled"),
    "page_delivery_folded": ("≡", "folded into a summary page"),
    "page_duplicate_ignored": ("=", "duplicate page ignored"),
    "escalation_policy_changed": ("≠", "policy changed (escalation keeps its snapshot)"),
    "escalation_step_failed": ("!", "escalation step failed"),
    "escalation_due_discarded": ("∅", "stale timer discarded"),
}


class IncidentDetailScreen(IncidentActions):
    MODE = "incidents"
    DEFAULT_CSS = """
    IncidentDetailScreen #detail-head { height: auto; padding: 0 1; border-bottom: solid $primary-darken-2; }
    IncidentDetailScreen TabbedContent { height: 1fr; }
    IncidentDetailScreen #timeline-table { height: 1fr; }
    IncidentDetailScreen #updates-list { height: 1fr; }
    IncidentDetailScreen #history { height: auto; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("a", "acknowledge", "Ack", id="detail.ack"),
        Binding("s", "advance", "Status", id="detail.advance"),
        Binding("h", "handoff", "Hand off", id="detail.handoff"),
        Binding("e", "escalate", "Escalate", id="detail.escalate"),
        Binding("p", "post_update", "Post", id="detail.post", tooltip="Post an update"),
        Binding("x", "redact", "Redact", id="detail.redact", tooltip="Redact the highlighted update"),
        Binding("t", "next_tab", "Next tab", id="detail.tab"),
    ]

    def __init__(self, incident_id: str) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.incident: dict[str, Any] | None = None
        self._event_ids: set[str] = set()
        self._updates_sig: list[tuple[Any, ...]] | None = None
        self._updates: dict[str, dict[str, Any]] = {}
        self._policy_name: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="detail-head")
            with TabbedContent(id="detail-tabs"):
                with TabPane("Paging timeline", id="tab-timeline"):
                    yield DataTable(id="timeline-table", cursor_type="row")
                with TabPane("Updates", id="tab-updates"):
                    yield OptionList(id="updates-list", markup=False)
                with TabPane("Status history", id="tab-history"):
                    yield Static("", id="history")
                with TabPane("Alerts", id="tab-alerts"):
                    yield AlertsView()

    def on_mount(self) -> None:
        table = self.query_one("#timeline-table", DataTable)
        table.add_column("When", key="when", width=20)
        table.add_column("Event", key="event", width=self._event_width())
        self.sync()
        table.focus()

    def _event_width(self) -> int:
        """The event column fills the screen and no more: a long row ends in an ellipsis instead of
        running off the edge (the "When" column, the cell padding and the scrollbar take the rest)."""
        return max(10, self.app.size.width - 20 - 4 - 2)

    def on_resize(self) -> None:
        tables = self.query("#timeline-table")
        if not tables:
            return
        table = tables.first(DataTable)
        width = self._event_width()
        column = table.columns.get("event")  # type: ignore[call-overload]
        if column is not None and column.width != width:
            column.width = width
            table.refresh()

    # -- data ----------------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        ctx = self.oncall.ctx
        try:
            self.incident = incidents_svc.get_incident(ctx, self.incident_id)
            updates = incidents_svc.list_updates(ctx, self.incident_id)
            alerts = alerts_svc.incident_alerts(ctx, self.incident_id)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        inc = self.incident
        self._policy_name = self._name_of_policy(inc["escalationPolicyId"])
        self.title = f"Incident #{inc['sequentialId']}"
        self._render_head(self.oncall.clock.now())
        self._render_timeline(inc["timeline"])
        self._render_updates(updates)
        self._render_history(inc["statusHistory"])
        self.query_one(AlertsView).show(alerts)
        self.refresh_bindings()

    def tick(self, now: datetime) -> None:
        # The app's clock ticks every screen on the stack; while this one is being composed or torn down
        # (leaving it, or the app quitting) its head is not there, and there is nothing to repaint.
        if self.incident is not None and self.query("#detail-head"):
            self._render_head(now)

    def _name_of_policy(self, policy_id: str | None) -> str | None:
        """Read once per data change, not on every one-second repaint of the head."""
        if policy_id is None:
            return None
        try:
            return str(policies.find_policy(self.oncall.ctx, policy_id)["name"])
        except DomainError:
            return "?"

    def _person(self, user_id: str | None) -> str:
        return self.oncall.directory.name(user_id)

    def _render_head(self, now: datetime) -> None:
        inc = self.incident
        assert inc is not None
        esc = inc.get("escalation") or {}
        line1 = Text.assemble(
            (f"#{inc['sequentialId']}  ", "bold"),
            severity_text(inc["severity"], no_color=self.app.no_color),
            "  ",
            status_text(inc["status"]),
            "  ",
            plain(inc["title"], style="bold"),
        )
        line1.no_wrap = True
        line1.overflow = "ellipsis"
        bits: list[Text | str] = [f"owner {self._person(inc['ownerId'])}"]
        if self._policy_name is not None:
            bits.append(f" · policy {self._policy_name}")
        if esc:
            bits.append(f" · layer {esc.get('currentLayer')}/{esc.get('layerCount')}")
            due_iso = esc.get("nextEscalationAt") or esc.get("snoozedUntil")
            due = parse_iso(due_iso) if due_iso else None
            bits.append(" · escalates in " if due is not None else " · escalation ")
            bits.append(countdown_text(due, now, esc.get("state")))
        if inc.get("acknowledgedBy"):
            bits.append(f" · acked by {self._person(inc['acknowledgedBy'])}")
        bits.append(f" · opened {ago(parse_iso(inc['createdAt']), now)}")
        if inc.get("resolvedAt"):
            bits.append(f" · resolved {ago(parse_iso(inc['resolvedAt']), now)}")
        line2 = Text.assemble(*bits)
        parts = [line1, line2]
        note = next((h["resolutionNote"] for h in inc["statusHistory"] if h.get("resolutionNote")), None)
        if inc["status"] == "resolved":
            parts.append(
                Text.assemble(("resolution: ", "bold"), plain(note, style="italic"))
                if note
                else Text("resolved without a note", style="dim italic")
            )
        if inc.get("description"):
            parts.append(plain(inc["description"], style="italic", ellipsis=False))
        self.query_one("#detail-head", Static).update(Text("\n").join(parts))

    def _event_text(self, ev: dict[str, Any]) -> Text:
        glyph, word = EVENT_WORDS.get(ev["kind"], ("·", ev["kind"].replace("_", " ")))
        data = ev.get("data") or {}
        out = Text(
            f"{glyph} {word}", style="bold" if ev["kind"] in ("layer_paged", "escalation_timeout") else ""
        )
        details: list[str] = []
        if "position" in data and data["position"] is not None:
            layer = f"layer {data['position']}"
            if data.get("layerCount"):
                layer += f"/{data['layerCount']}"
            details.append(layer)
        if data.get("userIds"):
            details.append(", ".join(self._person(u) for u in data["userIds"]))
        if data.get("removedUserIds"):  # nobody_on_call: whose turn it was, and why they were not paged
            details.append("removed: " + ", ".join(self._person(u) for u in data["removedUserIds"]))
        if data.get("userId") and ev["kind"] != "incident_acknowledged":
            details.append(self._person(data["userId"]))
        if ev["kind"] == "incident_acknowledged":
            details.append(f"by {self._person(data.get('userId') or ev.get('actor'))}")
            if data.get("via"):
                details.append(f"via {data['via']}")
        if ev["kind"] == "status_changed":
            details.append(f"{data.get('fromStatus')} → {data.get('toStatus')}")
        if ev["kind"] == "incident_handed_off":
            details.append(
                f"{self._person(data.get('previousOwnerId'))} → {self._person(data.get('newOwnerId'))}"
            )
        if ev["kind"] == "incident_created":
            details.append(str(data.get("severity", "")))
        if "attempt" in data:
            shown = f" {data['address']}" if data.get("address") else ""  # masked: scheme and host only
            details.append(f"#{data['attempt']} via {data.get('channel', '?')}{shown}")
            details.append(
                "ok" if data.get("ok") else f"failed: {data.get('result') or data.get('error') or ''}"
            )
        if data.get("timeoutAt"):
            details.append(f"times out {stamp(parse_iso(data['timeoutAt']))[11:]}")
        if data.get("reason") and data["reason"] not in ("escalation", "start"):
            details.append(str(data["reason"]).replace("_", " "))
        if details:
            out.append("  " + " · ".join(d for d in details if d), style="")
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out

    def _render_timeline(self, events: list[dict[str, Any]]) -> None:
        table = self.query_one("#timeline-table", DataTable)
        for ev in events:
            if ev["id"] in self._event_ids:
                continue
            self._event_ids.add(ev["id"])
            table.add_row(stamp(parse_iso(ev["at"])), self._event_text(ev), key=ev["id"])

    def _render_updates(self, updates: list[dict[str, Any]]) -> None:
        sig = [(u["id"], u["body"], u["redactedAt"]) for u in updates]
        if sig == self._updates_sig:
            return
        self._updates_sig = sig
        self._updates = {u["id"]: u for u in updates}
        ol = self.query_one("#updates-list", OptionList)
        keep = ol.highlighted
        options = []
        for u in updates:
            who = (u.get("postedBy") or {}).get("name", "?")
            head = Text(f"{stamp(parse_iso(u['postedAt']))}  {who}  [{u['visibility']}]", style="dim")
            if u["redactedAt"]:
                body = Text("✂ redacted", style="italic dim")
            elif u["body"]:
                body = plain(u["body"], ellipsis=False)
            else:
                body = Text(f"status → {u['statusChange']}", style="italic")
            options.append(Option(Text.assemble(head, "\n", body), id=u["id"]))
        if not options:
            options.append(
                Option(Text("no updates yet · p posts one", style="dim italic"), id="-none-", disabled=True)
            )
        ol.set_options(options)
        if updates:
            ol.highlighted = min(keep if keep is not None else len(options) - 1, len(options) - 1)

    def _render_history(self, history: list[dict[str, Any]]) -> None:
        lines = []
        for h in history:
            t = Text.assemble(f"{stamp(parse_iso(h['changedAt']))}  ", status_text(h["status"]))
            if h.get("resolutionNote"):
                t.append("  note: ")
                t.append(h["resolutionNote"], style="italic")
            lines.append(t)
        self.query_one("#history", Static).update(Text("\n").join(lines))

    # -- actions -------------------------------------------------------------------------------------

    def current_incident(self) -> dict[str, Any] | None:
        inc = self.incident
        if inc is None:
            return None
        return {
            "id": inc["id"],
            "seq": inc["sequentialId"],
            "title": terminal_text(inc["title"]),
            "status": inc["status"],
            "acknowledged": inc["acknowledgedAt"] is not None,
            "owner_id": inc["ownerId"],
            "escalates": inc.get("escalation") is not None,
            "layer": (inc.get("escalation") or {}).get("currentLayer"),
            "layer_count": (inc.get("escalation") or {}).get("layerCount"),
        }

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "redact":
            ol = self.query("#updates-list")
            if not ol or ol.first(OptionList).highlighted is None:
                return None
            return True
        return super().check_action(action, parameters)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        order = ["tab-timeline", "tab-updates", "tab-history", "tab-alerts"]
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)] if tabs.active in order else order[0]

    def action_post_update(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        ctx = self.oncall.ctx

        def post(values: dict[str, Any]) -> Any:
            return incidents_svc.post_update(
                ctx, inc["id"], {"body": values.get("body"), "visibility": values.get("visibility")}
            )

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.query_one(TabbedContent).active = "tab-updates"
                self.flash("update posted")

        fields = [
            Field("body", "Update", required=True, placeholder="what changed, what is next"),
            Field(
                "visibility",
                "Visibility",
                kind="select",
                options=[("internal", "internal"), ("public", "public")],
                value="internal",
                required=True,
            ),
        ]
        self.app.push_screen(FormScreen(f"Post an update to #{inc['seq']}", fields, post, ok="Post"), done)

    def action_redact(self) -> None:
        ol = self.query_one("#updates-list", OptionList)
        if ol.highlighted is None:
            self.flash("no update selected (open the Updates tab with t)", error=True)
            return
        update_id = ol.get_option_at_index(ol.highlighted).id
        if update_id not in self._updates:
            return
        self.query_one(TabbedContent).active = "tab-updates"
        u = self._updates[update_id]
        who = (u.get("postedBy") or {}).get("name", "?")
        body = terminal_text(u.get("body") or "")
        excerpt = body if len(body) <= 40 else body[:39] + "…"

        def answer(yes: bool | None) -> None:
            if yes:
                self.oncall.act_in_worker(
                    incidents_svc.redact_update, self.incident_id, update_id, done="update redacted"
                )

        self.app.push_screen(
            ConfirmScreen(
                f"Redact the update {who} posted at {stamp(parse_iso(u['postedAt']))}"
                f" (“{excerpt}”)? Its text is removed for good.",
                yes="Redact",
            ),
            answer,
        )

    @on(OptionList.OptionSelected, "#updates-list")
    def _update_selected(self) -> None:
        self.refresh_bindings()
