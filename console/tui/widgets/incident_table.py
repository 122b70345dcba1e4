"""The live incident table, drawn line by line: a change repaints only the rows it touches.

With 10,000 open incidents a general-purpose DataTable re-renders every visible cell and re-walks every
row whenever any cell changes; this table keeps one rendered line per incident, keyed by what it shows
(the row, its countdown text, whether the cursor is on it), so a live update redraws a handful of lines
and a countdown tick only the countdown cells whose text changed (an idle console writes almost nothing
to the terminal). Rows are keyed by incident id; :meth:`apply` diffs a full read, :meth:`apply_changes`
applies a few changed incidents.

The order is a sorted list of sort keys, one per shown row, computed once when the row changes; a change
moves its row with two bisections (no re-sort of 10,000 rows), and a row's position is found by bisection
too (each key ends with the incident id, so keys are unique).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.tui.presentation import (
    SEVERITY_ORDER,
    alert_count_text,
    countdown_text,
    drill_title,
    plain,
    severity_text,
    status_text,
)
from console.tui.readmodel import IncidentRow

COLUMNS = ("sev", "num", "status", "title", "alerts", "owner", "layer", "next", "ack")
HEADERS = {
    "sev": "Sev",
    "num": "#",
    "status": "Status",
    "title": "Title",
    "alerts": "Alerts",
    "owner": "Owner",
    "layer": "Layer",
    "next": "Escalates",
    "ack": "Acked by",
}
SHORT_HEADERS = {"alerts": "Alr", "layer": "Lyr", "next": "Next"}
COMPACT_BELOW = 100
GAP = 2  # spaces between columns
# created_at (ISO 8601 text) turned into bytes that sort newest first: each byte inverted, and a 0xFF after
# the last one so that a shorter text sorts after the longer ones it begins (as "end of text" inverted).
_NEWEST_FIRST = bytes(255 - b for b in range(256))

SortKey = tuple[object, ...]


def sort_key(row: IncidentRow, by: str) -> SortKey:
    """Where ``row`` goes in the table: by severity (critical first), then newest first (``created_at``,
    then the higher number), then the id; ``by="age"`` drops the severity."""
    newest_first = row.created_at.encode().translate(_NEWEST_FIRST) + b"\xff"
    if by == "age":
        return (newest_first, -row.seq, row.id)
    return (SEVERITY_ORDER.get(row.severity, 9), newest_first, -row.seq, row.id)


class IncidentTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    IncidentTable { height: 1fr; }
    IncidentTable > .incident-table--header { text-style: bold; background: $panel; }
    IncidentTable > .incident-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    IncidentTable > .incident-table--cursor-blurred { background: $block-cursor-blurred-background; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "incident-table--header",
        "incident-table--cursor",
        "incident-table--cursor-blurred",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
        Binding("enter", "select", "Details", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class RowHighlighted(Message):
        """The cursor moved to another incident."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    class RowSelected(Message):
        """Enter, or a click on the highlighted row: open the incident."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, name_of: Callable[[str | None, bool], str], no_color: bool = False) -> None:
        super().__init__(id="incident-table")
        self.name_of = name_of
        self.no_color = no_color
        self.sort_by = "severity"
        self.filter_text = ""
        self.compact = True
        self.widths: dict[str, int] = {}
        self._all: dict[str, IncidentRow] = {}
        self._shown: dict[str, IncidentRow] = {}
        self._keys: dict[str, SortKey] = {}  # the sort key of each shown row
        self._sorted: list[SortKey] = []  # the shown rows' keys in table order (each ends with the id)
        self._lines: dict[str, tuple[tuple[object, ...], Strip]] = {}
        self._header: Strip | None = None
        self._now: datetime | None = None
        self._row_now: dict[str, datetime] = {}  # rows on another clock (a drill's), keyed by incident id
        self._columns_for: int | None = None

    # -- layout --------------------------------------------------------------------------------------

    def build_columns(self, width: int) -> None:
        """Column widths for this terminal width; narrow terminals get short words and a narrower title."""
        if self._columns_for == width and self.widths:
            return
        self._columns_for = width
        compact = width < COMPACT_BELOW
        fixed = {"sev": 6, "num": 4 if compact else 5, "status": 10 if compact else 15}
        fixed |= {"owner": 8 if compact else 16, "layer": 3 if compact else 5, "next": 7 if compact else 9}
        fixed |= {"ack": 8 if compact else 16, "alerts": 3 if compact else 6}
        title = max(12, width - sum(fixed.values()) - GAP * (len(COLUMNS) - 1) - 3)
        self.widths = {c: title if c == "title" else fixed[c] for c in COLUMNS}
        self.compact = compact
        self._lines.clear()
        self._header = None
        self.refresh()

    def _virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._sorted) + 1)

    # -- data ----------------------------------------------------------------------------------------

    def matches(self, row: IncidentRow) -> bool:
        if not self.filter_text:
            return True
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
        return all(word in hay for word in self.filter_text.lower().split())

    def cells(self, row: IncidentRow, now: datetime) -> dict[str, Text]:
        now = self._row_now.get(row.id, now)
        layer = f"{row.layer}/{row.layer_count}" if row.layer and row.layer_count else "—"
        state = self._state(row)
        return {
            "sev": severity_text(row.severity, no_color=self.no_color),
            # A console drill's number belongs to its scratch copy, not to the live sequence.
            "num": Text("—" if row.id in self._row_now else f"#{row.seq}", no_wrap=True),
            "status": status_text(row.status, short=self.compact),
            "title": drill_title(row.title) if row.is_drill else plain(row.title),
            "alerts": Text(
                alert_count_text(row.alert_count).rjust(self.widths.get("alerts", 0)), no_wrap=True
            ),
            "owner": plain(self.name_of(row.owner_id, self.compact)),
            "layer": Text(layer, no_wrap=True),
            "next": countdown_text(row.due, now, state),
            "ack": plain(self.name_of(row.acknowledged_by, self.compact) if row.acknowledged_by else "—"),
        }

    @staticmethod
    def _state(row: IncidentRow) -> str | None:
        if row.acknowledged_by and row.esc_state is None:
            return "acknowledged"
        return row.esc_state

    def apply(self, rows: dict[str, IncidentRow], now: datetime) -> None:
        """Show ``rows`` (the filter applied), keeping the cursor on the incident it is on. Sort keys are
        computed for new or re-ordered rows only; the order is rebuilt only when some key changed."""
        self._all = rows
        self._now = now
        keep = self.selected_id
        visible = {k: r for k, r in rows.items() if self.matches(r)}
        old_shown, old_keys = self._shown, self._keys
        keys: dict[str, SortKey] = {}
        reorder = visible.keys() != old_shown.keys()
        for k, r in visible.items():
            old = old_shown.get(k)
            if old is not None and (old.severity, old.created_at, old.seq) == (
                r.severity,
                r.created_at,
                r.seq,
            ):
                keys[k] = old_keys[k]
            else:
                keys[k] = sort_key(r, self.sort_by)
                reorder = True
        self._shown, self._keys = visible, keys
        if reorder:
            self._sorted = sorted(keys.values())
            self._placed(keep)
        else:
            self.refresh()

    def apply_changes(self, changes: dict[str, IncidentRow | None], now: datetime) -> None:
        """Apply a few changed incidents (None: no longer open) without looking at the others: each one
        that moves is taken out of the order and put back by bisection."""
        if not changes:
            return
        self._now = now
        keep = self.selected_id
        moved = False
        for key, row in changes.items():
            if row is None:
                self._all.pop(key, None)
            else:
                self._all[key] = row
            old = self._shown.get(key)
            if row is None or not self.matches(row):
                if old is not None:
                    self._unplace(key)
                    del self._shown[key]
                    moved = True
                continue
            self._shown[key] = row
            new_key = sort_key(row, self.sort_by)
            if old is None or self._keys.get(key) != new_key:
                if old is not None:
                    self._unplace(key)
                self._keys[key] = new_key
                insort(self._sorted, new_key)
                moved = True
            else:
                self._refresh_row(self.index_of(key))
        if moved:
            self._placed(keep)

    def _unplace(self, key: str) -> None:
        old_key = self._keys.pop(key)
        del self._sorted[bisect_left(self._sorted, old_key)]

    def _placed(self, keep: str | None) -> None:
        """The order changed: keep the cursor on ``keep`` if it is still shown, and repaint."""
        self._virtual_size()
        index = self.index_of(keep) if keep is not None else None
        if index is not None:
            self.cursor = index
        else:
            self.cursor = min(self.cursor, max(0, len(self._sorted) - 1))
        self.refresh()

    def index_of(self, key: str) -> int | None:
        """The row number of the incident ``key`` in the table's order, or None if it is not shown."""
        found = self._keys.get(key)
        return None if found is None else bisect_left(self._sorted, found)

    def _id_at(self, index: int) -> str:
        return str(self._sorted[index][-1])

    def resort(self) -> None:
        keep = self.selected_id
        self._keys = {k: sort_key(r, self.sort_by) for k, r in self._shown.items()}
        self._sorted = sorted(self._keys.values())
        self._placed(keep)

    def set_sort(self, by: str) -> None:
        self.sort_by = by
        self.resort()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        if self._now is not None:
            self.apply(self._all, self._now)

    # -- clock ---------------------------------------------------------------------------------------

    def set_row_clock(self, key: str, now: datetime | None) -> None:
        """Count the row ``key`` down on another clock (a drill's); None puts it back on the table's."""
        if now is None:
            self._row_now.pop(key, None)
        else:
            self._row_now[key] = now
        self._refresh_row(self.index_of(key))

    def tick(self, now: datetime) -> None:
        """Countdowns move: repaint only the countdown cells on screen whose text changed (one cell a
        second per escalating row in view; nothing at all when no countdown is in view)."""
        self._now = now
        if not self.widths:
            return
        top = int(self.scroll_offset.y)
        x = self._countdown_x()
        for y in range(1, self.size.height):
            index = top + y - 1
            if index >= len(self._sorted):
                break
            key = self._id_at(index)
            cached = self._lines.get(key)
            if cached is None:
                continue  # never drawn: it will be drawn with the current text
            row = self._shown[key]
            text = countdown_text(row.due, self._row_now.get(key, now), self._state(row)).plain
            if cached[0][1] != text:  # the signature's countdown text
                self.refresh(Region(x, y, self.widths["next"], 1))

    # -- rendering -----------------------------------------------------------------------------------

    def _render_text(self, cells: dict[str, Text], style: Style | None) -> Strip:
        line = Text(no_wrap=True, end="")
        line.append(" ")
        for n, col in enumerate(COLUMNS):
            cell = cells[col].copy()
            cell.truncate(self.widths[col], overflow="ellipsis", pad=True)
            line.append_text(cell)
            if n < len(COLUMNS) - 1:
                line.append(" " * GAP)
        base = self.rich_style + style if style is not None else self.rich_style
        if style is not None and style.bgcolor is not None:
            # On the cursor row the cursor's colours win over the cells' own (glyphs and words remain), so
            # the row stays legible in every theme and under NO_COLOR.
            cursor = Style(color=style.color, bgcolor=style.bgcolor)
            segments = [
                Segment(seg.text, base + seg.style + cursor if seg.style else base)
                for seg in line.render(self.app.console)
            ]
        else:
            segments = [
                Segment(seg.text, base + seg.style if seg.style else base)
                for seg in line.render(self.app.console)
            ]
        return Strip(segments).crop_extend(0, self.size.width, base)

    def _countdown_x(self) -> int:
        """The first cell of the countdown column (after the leading space and the columns before it)."""
        return 1 + sum(self.widths[c] + GAP for c in COLUMNS[: COLUMNS.index("next")])

    def _header_strip(self) -> Strip:
        if self._header is None:
            headers = {
                c: Text(SHORT_HEADERS.get(c, HEADERS[c]) if self.compact else HEADERS[c]) for c in COLUMNS
            }
            self._header = self._render_text(headers, self.get_component_rich_style("incident-table--header"))
        return self._header

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.widths:
            return Strip.blank(width, self.rich_style)
        if y == 0:
            return self._header_strip()
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self._sorted) or self._now is None:
            return Strip.blank(width, self.rich_style)
        key = self._id_at(index)
        row = self._shown[key]
        cells = self.cells(row, self._now)
        on_cursor = index == self.cursor
        focused = self.has_focus
        signature = (row, cells["next"].plain, on_cursor, focused and on_cursor, width)
        cached = self._lines.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        style = None
        if on_cursor:
            component = "incident-table--cursor" if focused else "incident-table--cursor-blurred"
            style = self.get_component_rich_style(component)
        strip = self._render_text(cells, style)
        self._lines[key] = (signature, strip)
        return strip

    def _refresh_row(self, index: int | None) -> None:
        """Repaint the line of row number ``index`` if it is in view (widget coordinates: the header is
        line 0)."""
        if index is None:
            return
        y = index - int(self.scroll_offset.y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def on_resize(self, event: events.Resize) -> None:
        self._lines.clear()
        self._header = None
        self._virtual_size()

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()
        self._header = None

    # -- cursor --------------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._sorted) - 1)) if self._sorted else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_to_cursor()
        self.post_message(self.RowHighlighted(self.selected_id))

    def _scroll_to_cursor(self) -> None:
        rows_visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + rows_visible:
            self.scroll_to(y=self.cursor - rows_visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.size.height - 2)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._sorted) - 1

    def action_select(self) -> None:
        key = self.selected_id
        if key is not None:
            self.post_message(self.RowSelected(key))

    async def _on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if not 0 <= index < len(self._sorted):
            return
        if index == self.cursor or event.chain >= 2:
            self.cursor = index
            self.action_select()
        else:
            self.cursor = index

    # -- selection and inspection --------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._sorted)

    @property
    def selected_id(self) -> str | None:
        if not self._sorted:
            return None
        return self._id_at(min(self.cursor, len(self._sorted) - 1))

    @property
    def selected(self) -> IncidentRow | None:
        key = self.selected_id
        return None if key is None else self._shown.get(key)

    @property
    def shown_count(self) -> int:
        return len(self._shown)

    @property
    def open_count(self) -> int:
        """Open incidents known to the table, filtered out or not."""
        return len(self._all)

    def select_key(self, key: str) -> None:
        """Put the cursor on the incident ``key`` (if shown)."""
        index = self.index_of(key)
        if index is not None:
            self.cursor = index

    def row(self, key: str) -> IncidentRow | None:
        """The incident shown under ``key`` (None if filtered out or no longer open)."""
        return self._shown.get(key)

    def rows_in_order(self) -> list[IncidentRow]:
        return [self._shown[str(k[-1])] for k in self._sorted]

    @property
    def order(self) -> list[str]:
        return [str(k[-1]) for k in self._sorted]

    def cell_text(self, key: str, column: str) -> str:
        """What the cell shows, as plain text (for tests and the palette)."""
        if self._now is None:
            return ""
        return self.cells(self._shown[key], self._now)[column].plain
