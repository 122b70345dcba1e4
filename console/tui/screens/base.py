"""What every mode screen shares: the status bar on top, a flash line for results and errors, the footer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.terminal import terminal_text
from console.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from console.tui.app import OncallApp


class OncallScreen(Screen[None]):
    """Subclasses yield their body from ``compose_body`` and repaint from the database in ``refresh_data``."""

    MODE = "incidents"
    DEFAULT_CSS = """
    OncallScreen #flash { height: 1; width: 1fr; padding: 0 1; color: $text-muted; }
    OncallScreen #flash.-error { color: $text-error; text-style: bold; }
    """

    @property
    def oncall(self) -> OncallApp:
        return cast("OncallApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar(self.MODE)
        yield from self.compose_body()
        yield Static("", id="flash", markup=False)
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def flash(self, message: str, *, error: bool = False) -> None:
        """Show the outcome of the last action on the line above the footer (errors stay until replaced)."""
        line = self.query_one("#flash", Static)
        line.update(Content(("✗ " if error else "✓ ") + terminal_text(message)))
        line.set_class(error, "-error")

    _seen_generation = -1

    def sync(self, *, force: bool = False) -> None:
        """Re-read unless this screen already shows the app's current data generation."""
        generation = self.oncall.generation
        if force or generation != self._seen_generation:
            self._seen_generation = generation
            self.refresh_data()

    def refresh_data(self) -> None:
        """Re-read what this screen shows; called (through :meth:`sync`) when the database changed."""

    def tick(self, now: datetime) -> None:
        """Once a second: repaint what depends on the clock (countdowns)."""

    def drill_changed(self) -> None:
        """The console's drill moved on, started or went away (see :class:`console.tui.drill_link.DrillLink`)."""

    def on_screen_resume(self) -> None:
        self.sync()
