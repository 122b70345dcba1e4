"""Mode 1: the live incident table (the first screen)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from console.app.readmodel import open_incidents
from console.app.screens.incident_actions import IncidentActions
from console.app.widgets.incident_table import IncidentTable


class IncidentsScreen(IncidentActions):
    MODE = "incidents"
    TITLE = "Incidents"
    DEFAULT_CSS = """
    IncidentsScreen #incident-filter { display: none; height: 3; margin: 0 0; }
    IncidentsScreen #incident-filter.-shown { display: block; }
    IncidentsScreen #incident-summary { height: 1; padding: 0 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("a", "acknowledge", "Ack", id="incidents.ack"),
        Binding("s", "advance", "Status", id="incidents.advance", tooltip="Advance the status one step"),
        Binding("h", "handoff", "Hand off", id="incidents.handoff"),
        Binding("e", "escalate", "Escalate", id="incidents.escalate"),
        Binding("n", "new", "New", id="incidents.new"),
        Binding("enter", "open", "Details", id="incidents.open"),
        Binding("slash", "filter", "Filter", id="incidents.filter"),
        Binding("o", "sort", "Sort", id="incidents.sort", tooltip="Sort by severity or by age"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="incidents.clear_filter"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="filter: words in title, owner, severity, status, #number", id="incident-filter"
        )
        yield Static("", id="incident-summary", markup=False)
        yield IncidentTable(name_of=self._name_of, no_color=self.app.no_color)

    def _name_of(self, user_id: str | None, short: bool) -> str:
        return self.oncall.directory.name(user_id, short=short)

    @property
    def table(self) -> IncidentTable:
        return self.query_one(IncidentTable)

    def on_mount(self) -> None:
        self.table.build_columns(self.app.size.width)
        self.refresh_data()
        self.table.focus()

    def on_resize(self) -> None:
        self.table.build_columns(self.app.size.width)

    def refresh_data(self) -> None:
        rows = open_incidents(self.oncall.db, self.oncall.ctx.org_id)
        self.table.apply(rows, self.oncall.clock.now())
        self._summary()
        self.refresh_bindings()

    def tick(self, now: datetime) -> None:
        self.table.tick(now)

    def _summary(self) -> None:
        t = self.table
        total = len(t._all)
        parts = [f"{total} open" if t.shown_count == total else f"{t.shown_count} of {total} open"]
        parts.append(f"sorted by {t.sort_by}")
        if t.filter_text:
            parts.append(f"filter: {t.filter_text}")
        self.query_one("#incident-summary", Static).update(Content(" · ".join(parts)))

    # -- selection -----------------------------------------------------------------------------------

    def current_incident(self) -> dict[str, Any] | None:
        row = self.table.selected
        if row is None:
            return None
        return {
            "id": row.id,
            "seq": row.seq,
            "status": row.status,
            "acknowledged": row.acknowledged_by is not None,
            "owner_id": row.owner_id,
        }

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    # -- actions -------------------------------------------------------------------------------------

    def action_open(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        from console.app.screens.incident_detail import IncidentDetailScreen

        self.app.push_screen(IncidentDetailScreen(inc["id"]))

    def action_filter(self) -> None:
        box = self.query_one("#incident-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#incident-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._summary()

    @on(Input.Submitted, "#incident-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#incident-filter", Input).remove_class("-shown")
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#incident-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.table.set_filter("")
        self._summary()
        self.table.focus()

    def action_sort(self) -> None:
        self.table.set_sort("age" if self.table.sort_by == "severity" else "severity")
        self._summary()
        self.flash(f"sorted by {self.table.sort_by}")
