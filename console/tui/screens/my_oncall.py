"""Mode "my on-call" (``m``): the console's acting person (``--as``, ``[cli] identity``, else the first
admin): whether they are on call now and until when, their next handoff, their shifts over the next 14
days in every schedule (overrides included) and the open incidents they own or were paged for.

Shifts come from :func:`engine.service.schedules.person_shifts` (the same answer as ``oncall shifts`` and
the engine); pages from :func:`console.tui.readmodel.my_open_incidents`. ``a`` acknowledges the
highlighted page, ``enter`` opens it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.tui.presentation import local, plain, severity_text, short_time, status_text
from console.tui.readmodel import IncidentRow, my_open_incidents
from console.tui.screens.incident_actions import IncidentActions
from engine.errors import DomainError
from engine.service import schedules
from engine.timefmt import parse_iso

SHIFT_DAYS = 14  # how far ahead "my shifts" looks
LOOK_BACK_DAYS = 7  # how far back a shift that is on now may have started (its real start is shown)


class MyOncallScreen(IncidentActions):
    MODE = "mine"
    TITLE = "My on-call"
    DEFAULT_CSS = """
    MyOncallScreen #mine-head { height: auto; padding: 0 1; margin-bottom: 1; }
    MyOncallScreen #mine-shifts { height: auto; max-height: 12; }
    MyOncallScreen #mine-pages { height: 1fr; }
    """

    BINDINGS = [
        Binding("a", "acknowledge", "Ack", id="mine.ack"),
        Binding("enter", "open", "Details", id="mine.open"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pages: dict[str, IncidentRow] = {}
        self._order: list[str] = []
        self._tz: dict[str, str] = {}
        self._signature: object = None
        self._minute: datetime | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="pane-right"):
            yield Static("", id="mine-head", markup=False)
            yield Static(
                f"My shifts · next {SHIFT_DAYS} days (each in its schedule's zone)", classes="pane-title"
            )
            yield OptionList(id="mine-shifts", markup=False)
            yield Static("My open pages · owned by me or paged to me", classes="section-title")
            yield OptionList(id="mine-pages", markup=False)

    def on_mount(self) -> None:
        self.sync()
        self.query_one("#mine-pages", OptionList).focus()

    def tick(self, now: datetime) -> None:
        # "on call now" and the next handoff move with the clock, not only with the data: re-read each
        # minute (the signature check makes an unchanged minute free to repaint).
        minute = now.replace(second=0, microsecond=0)
        if minute != self._minute and self.query("#mine-head"):
            self._minute = minute
            self.refresh_data()

    @property
    def me(self) -> str | None:
        return self.oncall.ctx.actor_user_id

    # -- data ----------------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        me, ctx = self.me, self.oncall.ctx
        now = self.oncall.clock.now()
        head = self.query_one("#mine-head", Static)
        if me is None:
            head.update(Text("The console acts as nobody: start it with --as EMAIL.", style="italic"))
            return
        try:
            self._tz = {s["id"]: s["timezone"] for s in schedules.list_schedules(ctx)}
            shifts = schedules.person_shifts(
                ctx, me, now - timedelta(days=LOOK_BACK_DAYS), now + timedelta(days=SHIFT_DAYS)
            )
        except (DomainError, ValueError) as exc:
            self.flash(str(getattr(exc, "message", exc)), error=True)
            return
        shifts = [s for s in shifts if parse_iso(s["end"]) > now]
        pages = my_open_incidents(self.oncall.db, ctx.org_id, me)
        signature = (shifts, pages, now.replace(second=0, microsecond=0))
        if signature == self._signature:
            return  # unchanged (the engine's lease renewals bump data_version every second)
        self._signature = signature
        head.update(self._head(shifts, now))
        self._show_shifts(shifts, now)
        self._show_pages(pages)
        self.refresh_bindings()

    def _head(self, shifts: list[dict[str, Any]], now: datetime) -> Text:
        me = self.me
        name = self.oncall.directory.name(me)
        current = [s for s in shifts if parse_iso(s["start"]) <= now]
        out = Text.assemble(
            ("Me: ", "bold"), plain(name, style="bold"), ("  (the console acts as you)", "dim")
        )
        out.append("\n")
        if current:
            where = ", ".join(
                f"{s['scheduleName']} until {short_time(parse_iso(s['end']), self._tz.get(s['scheduleId']))}"
                for s in current
            )
            out.append_text(Text.assemble(("● on call now", "bold"), " in ", plain(where, ellipsis=False)))
        else:
            out.append_text(Text("○ not on call now", style="dim"))
        out.append("\n")
        boundaries = [(parse_iso(s["end"]), "ends", s) for s in current]
        boundaries += [(parse_iso(s["start"]), "starts", s) for s in shifts if parse_iso(s["start"]) > now]
        if boundaries:
            when, word, s = min(boundaries, key=lambda b: b[0])
            tz = self._tz.get(s["scheduleId"])
            out.append_text(
                Text.assemble(
                    ("next handoff: ", "bold"),
                    f"{_day_time(when, tz)} · your {s['scheduleName']} shift {word}",
                )
            )
        else:
            out.append_text(Text(f"next handoff: none in the next {SHIFT_DAYS} days", style="dim"))
        return out

    def _show_shifts(self, shifts: list[dict[str, Any]], now: datetime) -> None:
        ol = self.query_one("#mine-shifts", OptionList)
        options = []
        for i, s in enumerate(shifts):
            tz = self._tz.get(s["scheduleId"])
            start, end = parse_iso(s["start"]), parse_iso(s["end"])
            mark = ("● ", "bold") if start <= now else ("  ", "")
            how = "override" if s["source"] == "override" else (s["layerName"] or "")
            text = Text.assemble(
                mark,
                f"{_day_time(start, tz)} → {_day_time(end, tz)}  ",
                plain(s["scheduleName"], style="bold"),
                (f" · {how}" if how else "", "dim"),
            )
            text.no_wrap = True
            text.overflow = "ellipsis"
            options.append(Option(text, id=f"shift-{i}"))
        if not options:
            options.append(
                Option(
                    Text(
                        f"no shifts in the next {SHIFT_DAYS} days (schedules: 3, overrides: o)", style="dim"
                    ),
                    id="-none-",
                    disabled=True,
                )
            )
        ol.set_options(options)

    def _show_pages(self, pages: dict[str, IncidentRow]) -> None:
        ol = self.query_one("#mine-pages", OptionList)
        keep = self.selected_page()
        order = sorted(pages, key=lambda k: (pages[k].created_at, pages[k].seq), reverse=True)
        self._pages, self._order = pages, order
        directory = self.oncall.directory
        options = []
        for key in order:
            row = pages[key]
            ack = (
                f"acked by {directory.name(row.acknowledged_by, short=True)}"
                if row.acknowledged_by
                else "not acknowledged"
            )
            mine = "owner" if row.owner_id == self.me else "paged"
            text = Text.assemble(
                (f"#{row.seq:<4}", "bold"),
                severity_text(row.severity, no_color=self.app.no_color),
                " ",
                status_text(row.status, short=True),
                " ",
                plain(row.title, style="bold"),
                (f"  · {mine} · {ack}", "dim"),
            )
            text.no_wrap = True
            text.overflow = "ellipsis"
            options.append(Option(text, id=key))
        if not options:
            options.append(Option(Text("no open pages for you", style="dim"), id="-none-", disabled=True))
        ol.set_options(options)
        if keep in order:
            ol.highlighted = order.index(keep)
        elif order:
            ol.highlighted = 0

    # -- the incident the keys act on ---------------------------------------------------------------

    def selected_page(self) -> str | None:
        found = self.query("#mine-pages")
        if not found:
            return None
        ol = found.first(OptionList)
        if ol.highlighted is None or ol.option_count == 0:
            return None
        key = ol.get_option_at_index(ol.highlighted).id
        return key if key in self._pages else None

    def current_incident(self) -> dict[str, Any] | None:
        key = self.selected_page()
        row = None if key is None else self._pages.get(key)
        if row is None:
            return None
        return {
            "id": row.id,
            "seq": row.seq,
            "status": row.status,
            "acknowledged": row.acknowledged_by is not None,
            "owner_id": row.owner_id,
            "escalates": row.esc_state is not None,
        }

    @on(OptionList.OptionHighlighted, "#mine-pages")
    def _page_highlighted(self) -> None:
        self.refresh_bindings()

    @on(OptionList.OptionSelected, "#mine-pages")
    def _page_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        inc = self.current_incident()
        if inc is None:
            return
        from console.tui.screens.incident_detail import IncidentDetailScreen

        self.app.push_screen(IncidentDetailScreen(inc["id"]))


def _day_time(dt: datetime, tz: str | None) -> str:
    """``Mon 02 Mar 09:00`` in ``tz`` (UTC when None)."""
    return local(dt, tz).strftime("%a %d %b %H:%M")
