"""The top bar: where you are (mode tabs, clickable), heartbeats that are down, the maintenance windows in
force, the engine state, the sync state, the clock and its speed when it is not 1× (``--speed N``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from engine.errors import DomainError
from engine.service.database import StorageError
from engine.timefmt import parse_iso

if TYPE_CHECKING:
    from console.tui.app import OncallApp

MODES = (("incidents", "1", "Incidents"), ("policies", "2", "Policies"), ("schedules", "3", "Schedules"))
# Modes without a permanent tab (80 columns hold three; their keys work everywhere): each is shown as a
# tab only while it is open, so every screen says where you are.
OTHER_MODES = (("people", "4", "People"), ("reports", "5", "Reports"), ("mine", "m", "My on-call"))
ENGINE_LOOK = {
    "embedded": ("●", "embedded"),
    "attached": ("◐", "attached"),
    "standby": ("◐", "attached"),
    "off": ("○", "engine off"),
    "starting": ("◌", "starting"),
    "stopped": ("○", "engine stopped"),
    "unavailable": ("✗", "no engine"),
}


def heartbeat_label(down: int, *, wide: bool) -> str | None:
    """``♥ 1 heartbeat down`` (``♥1 down`` when narrow) while heartbeats are down; None otherwise."""
    if down == 0:
        return None
    if wide:
        return f"♥ {down} heartbeat{'s' if down != 1 else ''} down"
    return f"♥{down} down"


def maintenance_label(windows: Sequence[dict[str, Any]], now: datetime, *, wide: bool) -> str | None:
    """``⏸ maint: 2 windows until 14:00`` (``⏸ maint×2→14:00`` when narrow) while maintenance windows
    are in force: how many, and when the last of them ends (UTC, as the bar's clock; with the date when
    not today). None when no window is in force."""
    if not windows:
        return None
    end = max(parse_iso(w["endsAt"]) for w in windows)
    at = end.strftime("%H:%M") if end.date() == now.date() else end.strftime("%d %b %H:%M")
    n = len(windows)
    if wide:
        return f"⏸ maint: {n} window{'s' if n != 1 else ''} until {at}"
    return f"⏸ maint{'' if n == 1 else f'×{n}'}→{at}"


class StatusBar(Horizontal):
    """Re-reads the app's state once a second; cheap enough to exist on every screen."""

    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; width: 1fr; }
    StatusBar > #status-tabs { width: 1fr; height: 1; }
    StatusBar > #status-state { width: auto; height: 1; }
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self._tabs_for: tuple[object, ...] = ()
        self._state_text = ""

    def compose(self) -> ComposeResult:
        yield Static(id="status-tabs", markup=False)
        yield Static(id="status-state", markup=False)

    def on_mount(self) -> None:
        # The first frame without the heartbeat and maintenance indicators (their reads load the incident
        # services, which the first frame does not otherwise need); they follow right after it.
        self.refresh_state(alerts=False)
        self.call_after_refresh(self.refresh_state)
        self.set_interval(1.0, self.refresh_state)

    @property
    def oncall(self) -> OncallApp:
        return cast("OncallApp", self.app)

    def refresh_state(self, *, alerts: bool = True) -> None:
        """Redraw what changed, and only that: once a second the clock's digits (an idle console writes
        a few bytes to the terminal, not the bar)."""
        app = self.oncall
        wide = app.size.width >= 100
        if self._tabs_for != (wide, app.org_name):
            self._tabs_for = (wide, app.org_name)
            self._draw_tabs(wide)
        now = app.clock.now()
        state = [label for label in self._alerting(now, wide) if label is not None] if alerts else []
        glyph, word = ENGINE_LOOK.get(app.engine.mode, ("?", app.engine.mode))
        state.append(f"{glyph} {word}")
        if app.sync_on:
            state.append(app.sync.label())
        if app.demo:
            state.append("demo")
        speed = getattr(app.clock, "speed", 1.0)
        if isinstance(speed, int | float) and speed != 1:
            state.append(f"⏩ {speed:g}×")  # a scaled clock (--speed N): timers run N times faster
        state.append(now.strftime("%H:%M:%S") + " UTC" if wide else now.strftime("%H:%M:%SZ"))
        text = "  ".join(state) + " "
        if text != self._state_text:
            # Its width is its text's: a layout only when the length changed.
            relayout = len(text) != len(self._state_text)
            self._state_text = text
            self.query_one("#status-state", Static).update(Content(text), layout=relayout)

    def _draw_tabs(self, wide: bool) -> None:
        app = self.oncall
        parts: list[Content | str] = []
        if wide:
            parts.append(Content.from_markup("[b]oncall[/b] $org  ", org=app.org_name))
        for mode, key, label in MODES:
            if mode == self.mode:
                parts.append(Content.from_markup(f"[reverse b] {key} {label} [/] "))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_mode('{mode}')] {key} {label} [/] "))
        for mode, key, label in OTHER_MODES:
            if mode == self.mode:
                parts.append(Content.from_markup(f"[reverse b] {key} {label} [/] "))
        self.query_one("#status-tabs", Static).update(Content.assemble(*parts))

    def _alerting(self, now: datetime, wide: bool) -> list[str | None]:
        """The heartbeat and maintenance indicators, read through the service layer (two small queries a
        second); nothing once the database is gone or unreadable."""
        app = self.oncall
        if app.gone is not None:
            return []
        from engine.service import heartbeats, maintenance  # after the first frame: see incident_actions

        try:
            down = heartbeats.down_count(app.ctx)
            windows = maintenance.active_windows(app.ctx)
        except (DomainError, StorageError):
            return []
        return [heartbeat_label(down, wide=wide), maintenance_label(windows, now, wide=wide)]
