"""Mode 5: reports. The figures ``oncall report`` prints (engine/service/reports.py: MTTA, MTTR, pages and
night pages per person, incidents per policy and per severity, exhausted escalations, busiest hours) for
the last 7, 28 or 90 days, each chart drawn with textual-plotext and its numbers beside it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual import work
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from console.terminal import terminal_text
from console.tui.screens.base import OncallScreen
from engine.errors import DomainError
from engine.reports import format_duration as duration
from engine.service import reports

PERIODS = (7, 28, 90)
"""The windows ``p`` cycles through, in days before now."""
CHARTS = ("people", "policies", "severity", "hours")


class ReportsScreen(OncallScreen):
    MODE = "reports"
    TITLE = "Reports"

    DEFAULT_CSS = """
    ReportsScreen #report-body { scrollbar-gutter: stable; }
    ReportsScreen #report-summary { height: auto; padding: 0 1; }
    ReportsScreen .chart-row { height: 10; }
    ReportsScreen .chart-row BarChart { width: 1fr; height: 10; }
    ReportsScreen .chart-numbers { width: 33; height: 10; padding: 1 1 0 1; }
    """

    BINDINGS = [
        Binding("p", "next_period", "Period", id="reports.period"),
        Binding("r", "reload", "Reload", id="reports.reload"),
        Binding("j", "scroll('down')", "Scroll down", show=False, id="reports.down"),
        Binding("k", "scroll('up')", "Scroll up", show=False, id="reports.up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.days = 28
        self.data: dict[str, Any] | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="report-body"):
            yield Static("", id="report-summary", markup=False)
            for name in CHARTS:
                with Horizontal(classes="chart-row", id=f"row-{name}"):
                    yield BarChart(id=f"chart-{name}")
                    yield Static("", classes="chart-numbers", id=f"numbers-{name}", markup=False)

    def on_mount(self) -> None:
        for name in CHARTS:
            self.query_one(f"#chart-{name}", BarChart).theme = "textual-clear"

    def refresh_data(self) -> None:
        """Read the report of the last :attr:`days` days (the app's clock) in a worker thread, then redraw
        every chart: a long history or another process's write never holds up the screen."""
        self._load(self.days)

    @work(thread=True, exclusive=True, group="report")
    def _load(self, days: int) -> None:
        ctx = self.oncall.ctx
        try:
            end = ctx.now()
            window = reports.Period(end - timedelta(days=days), end, "UTC")
            data = reports.report_wire(ctx, window, reports.compute(ctx, window))
        except DomainError as exc:
            self.app.call_from_thread(self.flash, exc.message, error=True)
            return
        self.app.call_from_thread(self._show, data, days)

    def _show(self, data: dict[str, Any], days: int) -> None:
        if not self.is_mounted or days != self.days:
            return  # a newer read for another period is under way
        self.data = data
        self._draw(data)

    def action_next_period(self) -> None:
        self.days = PERIODS[(PERIODS.index(self.days) + 1) % len(PERIODS)]
        self.sync(force=True)
        self.flash(f"showing the last {self.days} days")

    def action_reload(self) -> None:
        self.sync(force=True)
        self.flash("report read again")

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#report-body", VerticalScroll)
        if direction == "down":
            body.scroll_down()
        else:
            body.scroll_up()

    # -- drawing -------------------------------------------------------------------------------------

    def _draw(self, d: dict[str, Any]) -> None:
        tta, ttr = d["timeToAcknowledgeSeconds"], d["timeToResolveSeconds"]
        start, end = d["from"][:16].replace("T", " "), d["to"][:16].replace("T", " ")
        self.query_one("#report-summary", Static).update(
            f"Last {self.days} days  {start} → {end} UTC  (p: period)\n"
            f"{d['incidents']} incidents · {d['acknowledged']} acknowledged · {d['resolved']} resolved · "
            f"{d['exhausted']} exhausted\n"
            f"MTTA {duration(tta['mean'])} (p95 {duration(tta['p95'])})  ·  "
            f"MTTR {duration(ttr['mean'])} (p95 {duration(ttr['p95'])})"
        )
        people = d["people"]
        names = [terminal_text(p["name"]) for p in people]
        self._bars(
            "people",
            "Pages per person: day █ night ▒",
            names,
            [[p["pages"] - p["nightPages"] for p in people], [p["nightPages"] for p in people]],
            ["PERSON           PAGES  NIGHT"]
            + [
                f"{n[:16]:<16} {p['pages']:>5}  {p['nightPages']:>5}"
                for n, p in zip(names, people, strict=True)
            ]
            + [f"night: {d['night']['start']}-{d['night']['end']}, their zone"]
            if people
            else ["nobody was paged"],
        )
        pol = d["byPolicy"]
        pnames = [terminal_text(p["policy"]) for p in pol]
        self._bars(
            "policies",
            "Incidents per policy: exhausted ▒",
            pnames,
            [[p["incidents"] - p["exhausted"] for p in pol], [p["exhausted"] for p in pol]],
            ["POLICY              INC.  EXH."]
            + [
                f"{n[:19]:<19} {p['incidents']:>4}  {p['exhausted']:>4}"
                for n, p in zip(pnames, pol, strict=True)
            ]
            if pol
            else ["no incidents in this period"],
        )
        sev = d["bySeverity"]
        self._bars(
            "severity",
            "Incidents per severity",
            list(sev),
            [list(sev.values())],
            ["SEVERITY       INCIDENTS"] + [f"{k:<14} {v:>9}" for k, v in sev.items()],
        )
        hours = d["busiestHours"]
        top = sorted(range(24), key=lambda h: (-hours[h], h))[:5]
        self._bars(
            "hours",
            f"Incidents by hour opened ({d['timezone']})",
            [f"{h:02d}" for h in range(24)],
            [hours],
            ["BUSIEST HOURS  INCIDENTS"]
            + [f"{h:02d}:00-{h + 1:02d}:00    {hours[h]:>9}" for h in top if hours[h]]
            if any(hours)
            else ["no incidents in this period"],
        )

    def _bars(
        self,
        name: str,
        title: str,
        labels: list[str],
        series: list[list[int]],
        numbers: list[str],
    ) -> None:
        self.query_one(f"#chart-{name}", BarChart).show(title, labels, series)
        self.query_one(f"#numbers-{name}", Static).update("\n".join(numbers))


class BarChart(PlotextPlot):
    """A bar chart (stacked when given several series) drawn from scratch at every render, so what it shows
    depends only on its data and its size (plotext keeps state between builds otherwise: a resized
    figure's tick labels could land a column apart from a fresh one's)."""

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._chart: tuple[str, list[str], list[list[int]]] = ("", [], [])

    def show(self, title: str, labels: list[str], series: list[list[int]]) -> None:
        self._chart = (title, labels, series)
        self.refresh()

    def render(self) -> RenderResult:
        title, labels, series = self._chart
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        top = max((sum(col) for col in zip(*series, strict=True)), default=0)
        step = max(1, -(-top // 4))  # whole numbers on the count axis, at most 5 ticks
        counts = [float(c) for c in range(0, top + step, step)]
        # plotext writes tick labels in a hash-dependent order, so labels that could touch are avoided:
        # few bars are drawn across (one label per row), many (the hours) down with every third labelled
        if labels and len(labels) <= 8:
            short = [label[:12] for label in reversed(labels)]  # plotext draws the first at the bottom
            parts = [list(reversed(part)) for part in series]
            markers = ["sd", "▒"][: len(series)]  # the second part differs by glyph, not only by colour
            plt.stacked_bar(short, parts, marker=markers, orientation="h", width=0.6)  # type: ignore[arg-type]
            plt.xticks(counts)
        elif labels:
            plt.bar(list(range(1, len(labels) + 1)), series[0], marker="sd")
            plt.xticks([float(x) for x in range(1, len(labels) + 1, 3)], labels[::3])
            plt.yticks(counts)
        return super().render()
