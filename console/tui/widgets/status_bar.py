"""The top bar: where you are (mode tabs, clickable), the engine state, the sync state, the clock and its
speed when it is not 1× (``--speed N``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from console.tui.app import OncallApp

MODES = (("incidents", "1", "Incidents"), ("policies", "2", "Policies"), ("schedules", "3", "Schedules"))
ENGINE_LOOK = {
    "embedded": ("●", "embedded"),
    "attached": ("◐", "attached"),
    "standby": ("◐", "attached"),
    "off": ("○", "engine off"),
    "starting": ("◌", "starting"),
    "stopped": ("○", "engine stopped"),
    "unavailable": ("✗", "no engine"),
}


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

    def compose(self) -> ComposeResult:
        yield Static(id="status-tabs", markup=False)
        yield Static(id="status-state", markup=False)

    def on_mount(self) -> None:
        self.refresh_state()
        self.set_interval(1.0, self.refresh_state)

    @property
    def oncall(self) -> OncallApp:
        return cast("OncallApp", self.app)

    def refresh_state(self) -> None:
        app = self.oncall
        parts: list[Content | str] = []
        wide = app.size.width >= 100
        if wide:
            parts.append(Content.from_markup("[b]oncall[/b] $org  ", org=app.org_name))
        for mode, key, label in MODES:
            if mode == self.mode:
                parts.append(Content.from_markup(f"[reverse b] {key} {label} [/] "))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_mode('{mode}')] {key} {label} [/] "))
        self.query_one("#status-tabs", Static).update(Content.assemble(*parts))
        glyph, word = ENGINE_LOOK.get(app.engine.mode, ("?", app.engine.mode))
        state = [f"{glyph} {word}"]
        if app.sync_on:
            state.append(app.sync.label())
        if app.demo:
            state.append("demo")
        speed = getattr(app.clock, "speed", 1.0)
        if isinstance(speed, int | float) and speed != 1:
            state.append(f"⏩ {speed:g}×")  # a scaled clock (--speed N): timers run N times faster
        now = app.clock.now()
        state.append(now.strftime("%H:%M:%S") + " UTC" if wide else now.strftime("%H:%M:%SZ"))
        self.query_one("#status-state", Static).update(Content("  ".join(state) + " "))
