"""Mode 1: the live incident table (the first screen)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Input, Static

from console.tui.readmodel import (
    IncidentRow,
    alerts_mark,
    changed_alert_counts,
    changed_incidents,
    first_open_incidents,
    open_incidents,
    resolved_incidents,
    some_incidents,
)
from console.tui.screens.incident_actions import IncidentActions
from console.tui.widgets.incident_table import IncidentTable

FIRST_ROWS = 100  # the first screenful (and some), shown before the rest of the open incidents load
HISTORY_LIMIT = 500  # resolved incidents the history views hold: the newest
VIEWS = ("open", "resolved", "all")  # the status filter, in the order `f` cycles through it
VIEW_WORDS = {"open": "open", "resolved": "resolved", "all": "open or resolved"}


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
        Binding(
            "f",
            "status_filter",
            "Status filter: open, resolved, all",
            id="incidents.status_filter",
            show=False,
            tooltip="Show open, resolved or all incidents",
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="incidents.clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._position: int | None = None
        self._alerts_mark = ""  # see console.tui.readmodel.changed_alert_counts
        self._loading = False  # the open incidents past the first screenful are being read in a worker
        self._summary_text = ""
        self._availability: object = ()
        self._drill_key: str | None = None
        self.view = "open"  # the status filter: one of VIEWS
        self._history_full = (
            False  # the history view holds HISTORY_LIMIT resolved incidents: older ones exist
        )

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

    def _mounted_table(self) -> IncidentTable | None:
        """The table, or None while the screen is being built or torn down: a resize, a clock tick or a
        resync finishing in its thread can arrive then, and must not raise inside the app."""
        found = self.query(IncidentTable)
        return found.first() if found else None

    def on_mount(self) -> None:
        self.table.build_columns(self.app.size.width)
        self.query_one("#incident-summary", Static).update("loading…")
        self.table.focus()

    def on_screen_resume(self) -> None:
        if self._seen_generation == -1:
            self._seen_generation = self.oncall.generation
            self._first_rows()
        else:
            self.sync()
            self.drill_changed()

    def on_resize(self) -> None:
        if (table := self._mounted_table()) is not None:
            table.build_columns(self.app.size.width)

    def _first_rows(self) -> None:
        """Start-up: the first screenful now (one small read), the rest of the open incidents in a worker
        (:meth:`_load_open`), so the first frame has rows however many incidents are open."""
        db, org_id = self.oncall.db, self.oncall.ctx.org_id
        self._alerts_mark = alerts_mark(db, org_id)
        rows, self._position = first_open_incidents(db, org_id, FIRST_ROWS)
        self.table.apply(rows | self._drill_rows(), self.oncall.clock.now())
        self._loading = True
        self._summary()
        self._highlighted()
        # After the first frame is out: the worker's read would otherwise hold the interpreter while the
        # frame is being drawn.
        self.call_after_refresh(self._load_open)

    @work(thread=True, exclusive=True, group="incident-load")
    def _load_open(self) -> None:
        """Every open incident, read on the console's second connection (the event loop keeps polling on
        its own), handed to the table in one go (the rows are built here, off the event loop)."""
        db = self.oncall.reader()
        org_id = self.oncall.ctx.org_id
        mark = alerts_mark(db, org_id)
        rows, position = open_incidents(db, org_id)
        self.app.call_from_thread(self._loaded, rows, position, mark)

    def _loaded(self, rows: dict[str, IncidentRow], position: int, mark: str) -> None:
        self._loading = False
        if self._mounted_table() is None or self.view != "open" or self._position is None:
            self.oncall.console_ready()
            return  # the view changed meanwhile: it made its own full read
        self.table.apply(rows | self._drill_rows(), self.oncall.clock.now())
        # Changes read while the worker ran may be newer than its snapshot, or older: read everything
        # after the older of the two positions again, at once.
        self._position = min(self._position, position)
        self._alerts_mark = min(self._alerts_mark, mark)
        self.refresh_data()
        self.oncall.console_ready()

    def refresh_data(self) -> None:
        """A full read when the view changed; otherwise only incidents with new timeline events or alert
        counts (a handful of rows, however many are open and however long the history)."""
        db, org_id = self.oncall.db, self.oncall.ctx.org_id
        if self._position is None:
            self._alerts_mark = alerts_mark(db, org_id)
            rows, self._position = open_incidents(db, org_id)
            self.table.apply(self._in_view(rows) | self._drill_rows(), self.oncall.clock.now())
        else:
            changes, self._position = changed_incidents(db, org_id, self._position)
            counts, self._alerts_mark = changed_alert_counts(db, org_id, self._alerts_mark)
            changes = counts | changes
            self.table.apply_changes(self._changes_in_view(changes), self.oncall.clock.now())
        self._summary()
        self._highlighted()

    # -- the status filter (open, resolved, all) -------------------------------------------------------

    def _in_view(self, open_rows: dict[str, IncidentRow]) -> dict[str, IncidentRow]:
        """What the status filter shows, given every open incident: the open ones, the newest resolved
        ones (at most HISTORY_LIMIT, read on each full read), or both."""
        if self.view == "open":
            return open_rows
        resolved = resolved_incidents(self.oncall.db, self.oncall.ctx.org_id, HISTORY_LIMIT)
        self._history_full = len(resolved) >= HISTORY_LIMIT
        return resolved if self.view == "resolved" else open_rows | resolved

    def _changes_in_view(self, changes: dict[str, IncidentRow | None]) -> dict[str, IncidentRow | None]:
        """The incremental read answers None for an incident that is no longer open; a history view keeps
        it (as resolved), and the resolved view drops the open ones."""
        if self.view == "open" or not changes:
            return changes
        gone = [key for key, row in changes.items() if row is None]
        if gone:
            found = some_incidents(self.oncall.db, self.oncall.ctx.org_id, gone)
            for key in gone:
                row = found.get(key)
                if row is not None and row.status == "resolved":
                    changes[key] = row
        if self.view == "resolved":
            changes = {
                k: (r if r is not None and r.status == "resolved" else None) for k, r in changes.items()
            }
        return changes

    def set_view(self, view: str) -> None:
        """Show ``view`` (one of VIEWS): a full read, the cursor kept on its incident when still shown."""
        if view == self.view:
            return
        self.view = view
        self._position = None
        self.refresh_data()
        self.flash(f"showing {VIEW_WORDS[view]} incidents · f changes it")

    def action_status_filter(self) -> None:
        self.set_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])

    def tick(self, now: datetime) -> None:
        if (table := self._mounted_table()) is not None:
            table.tick(now)

    # -- the console's drill (a row from its scratch copy, counting down on the drill's clock) -------

    def _drill_rows(self) -> dict[str, IncidentRow]:
        rows = self.oncall.drills.rows()
        drill_now = self.oncall.drills.now()
        for key in rows:
            self.table.set_row_clock(key, drill_now)
        return rows

    def drill_changed(self) -> None:
        rows = self._drill_rows()
        changes: dict[str, IncidentRow | None] = dict(rows)
        gone = self._drill_key
        if gone is not None and gone not in rows:
            self.table.set_row_clock(gone, None)
            changes[gone] = None
        self._drill_key = next(iter(rows), None)
        if not changes:
            return
        self.table.apply_changes(changes, self.oncall.clock.now())
        if self._drill_key is not None and gone is None:
            self.table.select_key(self._drill_key)  # a new drill: the cursor goes to it, ready for `a`
        self._summary()
        self._highlighted()

    def _summary(self) -> None:
        t = self.table
        total, word = t.open_count, VIEW_WORDS[self.view]
        parts = [f"{total} {word}" if t.shown_count == total else f"{t.shown_count} of {total} {word}"]
        if self._loading:
            parts = [f"the first {t.shown_count} {word} · loading the rest…"]
        if self.view != "open" and self._history_full:
            parts.append(f"the newest {HISTORY_LIMIT} resolved shown")
        parts.append(f"sorted by {t.sort_by}")
        drills = self.oncall.drills
        if drills.drill is not None:
            parts.append(f"DRILL at {drills.speed:g}× ({'ended' if drills.drill.finished else 'running'})")
        if t.filter_text:
            parts.append(f"filter: {t.filter_text}")
            if t.shown_count == 0 and total:
                parts.append("no incident matches the filter · esc clears it")
        elif total == 0 and self._position is not None and not self._loading:
            parts.append("no open incidents · n opens one")
        text = " · ".join(parts)
        if text != self._summary_text:  # an unchanged line is not redrawn (a change every second is normal)
            self._summary_text = text
            self.query_one("#incident-summary", Static).update(Content(text))

    # -- selection -----------------------------------------------------------------------------------

    def current_incident(self) -> dict[str, Any] | None:
        row = self.table.selected
        if row is None:
            return None
        return {
            "id": row.id,
            "seq": row.seq,
            "title": row.title,
            "status": row.status,
            "acknowledged": row.acknowledged_by is not None,
            "owner_id": row.owner_id,
            "escalates": row.esc_state is not None,
            "layer": row.layer,
            "layer_count": row.layer_count,
            "drill": self.oncall.drills.owns(row.id),
        }

    @on(IncidentTable.RowHighlighted)
    def _highlighted(self) -> None:
        # The footer only needs redrawing when what the keys can do changes, not on every cursor move.
        inc = self.current_incident()
        availability = (
            None
            if inc is None
            else (inc["acknowledged"], inc["status"] == "resolved", inc["escalates"], inc["drill"])
        )
        if availability != self._availability:
            self._availability = availability
            self.refresh_bindings()

    @on(IncidentTable.RowSelected)
    def _selected(self, event: IncidentTable.RowSelected) -> None:
        self.action_open()

    # -- actions -------------------------------------------------------------------------------------

    def action_open(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        if inc["drill"]:
            self.flash("a drill has no detail screen: a acknowledges it; its score card shows at the end")
            return
        from console.tui.screens.incident_detail import IncidentDetailScreen

        self.app.push_screen(IncidentDetailScreen(inc["id"]))

    def action_filter(self) -> None:
        box = self.query_one("#incident-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#incident-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self.view == "open" and any(
            len(w) >= 5 and "resolved".startswith(w) for w in event.value.lower().split()
        ):
            self.set_view("all")  # `/resolved` finds resolved incidents: the open view holds none
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
