"""The incident detail's "Alerts" tab: what monitoring sent about the incident, newest first.

It shows the summary :func:`engine.service.alerts.incident_alerts` answers (count, alerts still firing,
first and last seen, the labels every alert shares, the source's links) and then each alert with its own
count, times, labels and links. Every value from outside is escaped (:func:`console.tui.presentation.plain`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.tui.presentation import plain, stamp
from engine.timefmt import parse_iso

EMPTY = (
    "No alerts on this incident: it was opened by hand (or by a heartbeat).\n"
    "Alerts attach to the incidents an inbound integration opens: `oncall integrations create` prints the "
    "URL to point Alertmanager, Grafana or any events source at; repeats of an alert add to its incident "
    "(docs/ALERTS.md)."
)
ALERT_LOOK = {"firing": ("▲", "firing"), "resolved": ("✓", "resolved"), "acknowledged": ("✓", "acked")}


def _when(iso: str | None) -> str:
    return "—" if not iso else stamp(parse_iso(iso))


def _labels(labels: dict[str, str], skip: dict[str, str] | None = None) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    for key, value in sorted(labels.items()):
        if skip is not None and skip.get(key) == value:
            continue
        if out.plain:
            out.append("  ")
        out.append_text(plain(key, style="dim"))
        out.append("=")
        out.append_text(plain(value))
    return out


def _link(link: dict[str, str]) -> Text:
    return Text.assemble(plain(link.get("text") or "link", style="bold"), " ", plain(link.get("href", "")))


def alerts_text(summary: dict[str, Any] | None) -> Text:
    """The tab's whole text for ``summary`` (None: the incident has no alerts: say what to do)."""
    if summary is None:
        return Text(EMPTY)
    count, firing = summary["count"], summary["firing"]
    head = Text.assemble(
        (f"{count} alert{'s' if count != 1 else ''} received", "bold"),
        f" · {firing} firing",
        f" · first seen {_when(summary['firstSeen'])}",
        f" · last seen {_when(summary['lastSeen'])}",
    )
    lines: list[Text] = [head]
    source = Text("via ")
    source.append_text(plain(summary.get("integrationName") or summary.get("integrationId") or "?"))
    if summary.get("heldBy"):
        source.append("  ⏸ pages held by a maintenance window", style="bold")
    lines.append(source)
    if summary.get("labels"):
        lines.append(Text.assemble(("labels ", "dim"), _labels(summary["labels"])))
    for link in summary.get("links") or []:
        lines.append(Text.assemble(("link   ", "dim"), _link(link)))
    for alert in summary.get("alerts") or []:
        glyph, word = ALERT_LOOK.get(alert["status"], ("?", alert["status"]))
        lines.append(Text(""))
        first = Text.assemble(
            (f"{glyph} {word}", "bold" if alert["status"] == "firing" else "dim"),
            f"  ×{alert['count']}  ",
            plain(alert["summary"], style="bold"),
        )
        first.no_wrap = True
        first.overflow = "ellipsis"
        lines.append(first)
        when = f"    last {_when(alert['lastSeen'])} · first {_when(alert['firstSeen'])}"
        if alert.get("resolvedAt"):
            when += f" · resolved {_when(alert['resolvedAt'])}"
        times = Text(when, style="dim")
        if alert.get("source"):
            times.append(" · ")
            times.append_text(plain(alert["source"]))
        lines.append(times)
        own = _labels(alert.get("labels") or {}, skip=summary.get("labels") or {})
        if own.plain:
            lines.append(Text.assemble("    ", own))
        for link in alert.get("links") or []:
            if link not in (summary.get("links") or []):
                lines.append(Text.assemble("    ", _link(link)))
    return Text("\n").join(lines)


class AlertsView(VerticalScroll):
    """A scrollable view of :func:`alerts_text`; :meth:`show` repaints only when the summary changed."""

    DEFAULT_CSS = """
    AlertsView { height: 1fr; padding: 0 1; }
    AlertsView > #alerts-text { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__(id="alerts-view")
        self._shown: dict[str, Any] | None | bool = False  # False: nothing shown yet

    def compose(self) -> ComposeResult:
        yield Static("", id="alerts-text", markup=False)

    def show(self, summary: dict[str, Any] | None) -> None:
        if summary == self._shown:
            return
        self._shown = summary
        self.query_one("#alerts-text", Static).update(alerts_text(summary))

    @property
    def text(self) -> str:
        """What the tab shows, as plain text (for tests)."""
        shown = self._shown
        return alerts_text(None if shown is False or shown is True else shown).plain
