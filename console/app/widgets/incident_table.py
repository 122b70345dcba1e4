"""The live incident table: a keyed diff per refresh, countdowns repainted only where they are visible."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.app.presentation import (
    SEVERITY_ORDER,
    countdown_text,
    plain,
    severity_text,
    status_text,
)
from console.app.readmodel import IncidentRow

COLUMNS = ("sev", "num", "status", "title", "owner", "layer", "next", "ack")
HEADERS = {
    "sev": "Sev",
    "num": "#",
    "status": "Status",
    "title": "Title",
    "owner": "Owner",
    "layer": "Layer",
    "next": "Escalates",
    "ack": "Acked by",
}
SHORT_HEADERS = {"layer": "Lyr", "next": "Next"}
COMPACT_BELOW = 100


class IncidentTable(DataTable[Text | str]):
    """Rows are keyed by incident id; ``apply`` diffs the new read model against what is shown."""

    DEFAULT_CSS = """
    IncidentTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, *, name_of: Callable[[str | None, bool], str], no_color: bool = False) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id="incident-table")
        self.name_of = name_of
        self.no_color = no_color
        self.sort_by = "severity"
        self.filter_text = ""
        self.compact = True
        self._all: dict[str, IncidentRow] = {}
        self._shown: dict[str, IncidentRow] = {}
        self._num_key: dict[str, tuple[object, ...]] = {}
        self._now: datetime | None = None
        self._columns_for: int | None = None

    # -- layout --------------------------------------------------------------------------------------

    def build_columns(self, width: int) -> None:
        """(Re)create the columns for this width; narrow terminals get short words and a narrower title."""
        compact = width < COMPACT_BELOW
        fixed = {"sev": 6, "num": 4 if compact else 5, "status": 10 if compact else 15}
        fixed |= {"owner": 8 if compact else 16, "layer": 3 if compact else 5, "next": 7 if compact else 9}
        fixed |= {"ack": 8 if compact else 16}
        title = max(12, width - sum(fixed.values()) - 2 * len(COLUMNS) - 2)
        if self._columns_for == width and self.columns:
            return
        self._columns_for = width
        self.compact = compact
        self.clear(columns=True)
        for key in COLUMNS:
            header = SHORT_HEADERS.get(key, HEADERS[key]) if compact else HEADERS[key]
            self.add_column(header, key=key, width=title if key == "title" else fixed[key])
        self._shown = {}
        if self._now is not None:
            self.apply(self._all, self._now)

    # -- data ----------------------------------------------------------------------------------------

    def matches(self, row: IncidentRow) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        hay = " ".join(
            (
                row.title,
                row.severity,
                row.status,
                f"#{row.seq}",
                self.name_of(row.owner_id, False),
                self.name_of(row.acknowledged_by, False) if row.acknowledged_by else "",
            )
        ).lower()
        return all(word in hay for word in needle.split())

    def cells(self, row: IncidentRow, now: datetime) -> dict[str, Text | str]:
        layer = f"{row.layer}/{row.layer_count}" if row.layer and row.layer_count else "—"
        state = row.esc_state
        if row.acknowledged_by and state is None:
            state = "acknowledged"
        return {
            "sev": severity_text(row.severity, no_color=self.no_color),
            "num": f"#{row.seq}",
            "status": status_text(row.status, short=self.compact),
            "title": plain(row.title),
            "owner": plain(self.name_of(row.owner_id, self.compact)),
            "layer": Text(layer, no_wrap=True),
            "next": countdown_text(row.due, now, state),
            "ack": plain(self.name_of(row.acknowledged_by, self.compact) if row.acknowledged_by else "—"),
        }

    def _sort_key(self, row: IncidentRow) -> tuple[object, ...]:
        if self.sort_by == "age":
            return (_neg(row.created_at), -row.seq)
        return (SEVERITY_ORDER.get(row.severity, 9), _neg(row.created_at), -row.seq)

    def apply(self, rows: dict[str, IncidentRow], now: datetime) -> None:
        """Show ``rows`` (the filter applied): remove, update changed cells, add, then sort once."""
        self._all = rows
        self._now = now
        if not self.columns:
            return
        visible = {k: r for k, r in rows.items() if self.matches(r)}
        selected = self.selected_id
        resort = False
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in visible]:
                self.remove_row(key)
                del self._shown[key]
            for key, row in visible.items():
                old = self._shown.get(key)
                if old is None:
                    cells = self.cells(row, now)
                    self.add_row(*(cells[c] for c in COLUMNS), key=key)
                    self._num_key[f"#{row.seq}"] = self._sort_key(row)
                    resort = True
                elif old != row:
                    new_cells, old_cells = self.cells(row, now), self.cells(old, now)
                    for col in COLUMNS:
                        if new_cells[col] != old_cells[col] or col == "next":
                            self.update_cell(key, col, new_cells[col])
                    if (old.severity, old.created_at) != (row.severity, row.created_at):
                        self._num_key[f"#{row.seq}"] = self._sort_key(row)
                        resort = True
            self._shown = visible
            if resort:
                self._resort(selected)

    def resort(self) -> None:
        """Sort again, keeping the cursor on the incident it is on."""
        self._resort(self.selected_id)

    def _resort(self, keep: str | None) -> None:
        self._num_key = {f"#{r.seq}": self._sort_key(r) for r in self._shown.values()}
        self.sort("num", key=lambda num: self._num_key.get(str(num), ()))
        if keep is not None and keep in self._shown:
            self.move_cursor(row=self.get_row_index(keep), scroll=False)

    def set_sort(self, by: str) -> None:
        self.sort_by = by
        self.resort()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        if self._now is not None:
            self.apply(self._all, self._now)

    # -- countdowns ----------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Repaint the countdown cells of the rows on screen (and a margin), nothing else."""
        self._now = now
        if not self._shown:
            return
        first = max(0, int(self.scroll_y) - 5)
        last = min(self.row_count, int(self.scroll_y) + self.size.height + 5)
        for index in range(first, last):
            try:
                key = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            except CellDoesNotExist:
                continue
            row = self._shown.get(key or "")
            if row is None or row.due_ms is None:
                continue
            try:
                self.update_cell(key or "", "next", countdown_text(row.due, now, row.esc_state))
            except (CellDoesNotExist, RowDoesNotExist):
                continue

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._now is not None and int(old) != int(new):
            self.tick(self._now)

    # -- selection -----------------------------------------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except CellDoesNotExist:
            return None

    @property
    def selected(self) -> IncidentRow | None:
        key = self.selected_id
        return None if key is None else self._shown.get(key)

    @property
    def shown_count(self) -> int:
        return len(self._shown)


def _neg(text: str) -> tuple[int, ...]:
    """Sort ISO timestamps newest first by negating their code points."""
    return tuple(-ord(c) for c in text)
