"""Fourteen days of a schedule at a glance: one row per rotation layer, overrides, and who owns it.

Each character is a slice of time. A letter starts a shift (the person's initial), ``─`` continues it,
``·`` is a slice where the layer is not active. Overrides show as ``▓``-marked rows, gaps in ownership as
``░``; a handoff whose wall-clock time fell into a DST gap or overlap is drawn reversed and listed below,
as are overrides and gaps, so nothing depends on colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.terminal import terminal_text
from console.tui.presentation import BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION, YELLOW
from engine.model import Schedule
from engine.rotation import ScheduleShifts, Shift

USER_COLOURS = (SKY, ORANGE, GREEN, PURPLE, YELLOW, BLUE, VERMILLION)
LABEL = 11
DAYS = 14


@dataclass
class TimelineData:
    schedule: Schedule
    shifts: ScheduleShifts
    start: datetime
    now: datetime
    names: dict[str, str]  # user id -> full name
    user_order: list[str]


class ScheduleTimeline(Widget):
    DEFAULT_CSS = """
    ScheduleTimeline { height: auto; width: 1fr; }
    """

    data: reactive[TimelineData | None] = reactive(None, layout=True)

    def show(self, data: TimelineData | None) -> None:
        self.data = data

    def get_content_height(self, container, viewport, width) -> int:  # type: ignore[no-untyped-def]
        return len(self._lines(width))

    def render(self) -> Text:
        out = Text("\n").join(self._lines(self.size.width))
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out

    # -- drawing -------------------------------------------------------------------------------------

    def _colour(self, user_id: str | None) -> str:
        d = self.data
        if d is None or user_id is None or user_id not in d.user_order:
            return ""
        return USER_COLOURS[d.user_order.index(user_id) % len(USER_COLOURS)]

    def _initial(self, user_id: str) -> str:
        assert self.data is not None
        name = self.data.names.get(user_id, "?")
        return (name[:1] or "?").upper()

    def _lines(self, width: int) -> list[Text]:
        d = self.data
        if d is None:
            return [Text("No schedule selected.", style="italic")]
        if width <= LABEL + 14:
            return [Text("(too narrow for the timeline)", style="dim")]
        tz = ZoneInfo(d.schedule.timezone)
        slots = width - LABEL
        span = timedelta(days=DAYS)
        step = span / slots
        edges = [d.start + step * i for i in range(slots + 1)]
        lines = [self._day_header(edges, tz, slots)]
        dst_slots: dict[str, set[int]] = {}
        for layer in d.shifts.layers:
            dst_slots[layer.layer_id] = {
                self._slot_of(h.at, d.start, step) for h in layer.handoffs if h.dst is not None
            }
        for layer in d.shifts.layers:
            label = Text(
                f"{terminal_text(layer.name)[: LABEL - 2]:<{LABEL - 1}} ", style="bold", no_wrap=True
            )
            row = self._shift_row(list(layer.shifts), edges, dst_slots.get(layer.layer_id, set()))
            lines.append(Text.assemble(label, row))
        overrides = [
            Shift(o.user_id, o.start, o.end, None, "override", o.id)
            for o in d.schedule.overrides
            if o.end > d.start and o.start < d.start + span
        ]
        lines.append(
            Text.assemble(
                Text(f"{'Overrides':<{LABEL - 1}} ", style="bold"),
                self._shift_row(overrides, edges, set(), fill="·"),
            )
        )
        owner_row = self._shift_row(list(d.shifts.owners), edges, set(), gap="░")
        lines.append(Text.assemble(Text(f"{'On call':<{LABEL - 1}} ", style="bold"), owner_row))
        now_slot = self._slot_of(d.now, d.start, step)
        if 0 <= now_slot < slots:
            lines.append(Text(" " * (LABEL + now_slot) + "▲ now", style="bold"))
        lines.append(
            Text(
                "A = shift starts · ─ continues · ░ nobody on call · reversed = DST handoff",
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            )
        )
        lines.extend(self._notes(tz))
        return lines

    @staticmethod
    def _slot_of(at: datetime, start: datetime, step: timedelta) -> int:
        return int((at - start) / step)

    def _day_header(self, edges: list[datetime], tz: ZoneInfo, slots: int) -> Text:
        cells = [" "] * slots
        per_day = slots / DAYS
        fmt = "│%a %d" if per_day >= 7 else ("│%d" if per_day >= 3 else ("%d" if per_day >= 2 else "│"))
        last_day = None
        for i in range(slots):
            local_day = edges[i].astimezone(tz).date()
            if local_day != last_day:
                last_day = local_day
                label = edges[i].astimezone(tz).strftime(fmt)
                for j, ch in enumerate(label):
                    if i + j < slots and (j == 0 or cells[i + j] == " "):
                        cells[i + j] = ch
        return Text.assemble(Text(f"{'':<{LABEL}}"), Text("".join(cells), style="dim"))

    def _shift_row(
        self,
        shifts: list[Shift],
        edges: list[datetime],
        dst: set[int],
        *,
        fill: str = "·",
        gap: str | None = None,
    ) -> Text:
        out = Text(no_wrap=True)
        shifts = sorted(shifts, key=lambda s: s.start)
        k = 0
        prev_user: str | None = None
        prev_start: datetime | None = None
        for i in range(len(edges) - 1):
            a, b = edges[i], edges[i + 1]
            mid = a + (b - a) / 2
            while k < len(shifts) and shifts[k].end <= a:
                k += 1
            cover = None
            started_here = False
            for s in shifts[k : k + 4]:
                if s.start < b and s.end > a:
                    if s.start >= a:
                        cover, started_here = s, True
                        break
                    if s.start <= mid < s.end or cover is None:
                        cover = s
            if cover is None:
                out.append(gap or fill, style="dim" if gap is None else "bold")
                prev_user = None
                continue
            new_shift = started_here or cover.user_id != prev_user or cover.start != prev_start
            style = self._colour(cover.user_id)
            if cover.source == "override":
                style += " underline"
            if new_shift:
                ch = self._initial(cover.user_id)
                style += " bold"
                if i in dst:
                    style += " reverse"
            else:
                ch = "─"
            out.append(ch, style=style.strip())
            prev_user, prev_start = cover.user_id, cover.start
        return out

    def _notes(self, tz: ZoneInfo) -> list[Text]:
        d = self.data
        assert d is not None
        notes: list[tuple[datetime, Text]] = []
        for h in d.shifts.dst_issues:
            notes.append(
                (
                    h.at,
                    Text(
                        f"⚠ DST {h.dst}: handoff meant for {h.intended_local.replace('T', ' ')} ran at "
                        f"{h.at.astimezone(tz).strftime('%a %d %b %H:%M')} "
                        f"({d.names.get(h.from_user, '?')} → {d.names.get(h.to_user, '?')})",
                        style="bold",
                    ),
                )
            )
        end = d.start + timedelta(days=DAYS)
        for o in d.schedule.overrides:
            if o.end > d.start and o.start < end:
                notes.append(
                    (
                        o.start,
                        Text(
                            f"◆ override: {d.names.get(o.user_id, '?')} "
                            f"{o.start.astimezone(tz).strftime('%a %d %b %H:%M')} → "
                            f"{o.end.astimezone(tz).strftime('%a %d %b %H:%M')}"
                        ),
                    )
                )
        for g in d.shifts.gaps:
            notes.append(
                (
                    g.start,
                    Text(
                        f"░ gap: nobody on call {g.start.astimezone(tz).strftime('%a %d %b %H:%M')} → "
                        f"{g.end.astimezone(tz).strftime('%a %d %b %H:%M')}",
                        style="bold",
                    ),
                )
            )
        notes.sort(key=lambda n: n[0])
        for t in notes:
            t[1].no_wrap = True
            t[1].overflow = "ellipsis"
        return [t for _, t in notes]
