"""What every mode screen shares: the status bar on top, a flash line for results and errors, the footer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from console.terminal import terminal_text
from console.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from console.tui.app import OncallApp


class FittingFooter(Footer):
    """The footer, each key tagged with its action (``-key-help``, ``-key-back``…) so the theme can drop
    the keys every screen shares when a narrow terminal (80 columns) has no room for them: they still
    work, and ``?`` and the palette list them."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # Not mounted yet: its styles are computed once when it mounts. An update here, or the
                # key's own ``compact`` watcher adding ``-compact`` after it mounts, restyles it again
                # for every key (~0.3 s of CPU at start-up and on every footer change); with the class
                # already there, the watcher finds nothing to do.
                classes = ["-key-" + widget.action.split("(")[0].replace("_", "-")]
                if self.compact:
                    classes.append("-compact")
                widget.add_class(*classes, update=False)
            yield widget


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
        yield FittingFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    _flash_timer: Timer | None = None

    def flash(self, message: str, *, error: bool = False) -> None:
        """Show the outcome of the last action on the line above the footer. It clears by itself after
        the app's ``flash_seconds`` (twice that for an error), or when the next action runs
        (:meth:`console.tui.app.OncallApp.run_action`)."""
        line = self.query_one("#flash", Static)
        line.update(Content(("✗ " if error else "✓ ") + terminal_text(message)))
        line.set_class(error, "-error")
        if self._flash_timer is not None:
            self._flash_timer.stop()
        seconds = self.oncall.flash_seconds * (2 if error else 1)
        self._flash_timer = self.set_timer(seconds, self.clear_flash)

    def clear_flash(self) -> None:
        """Empty the flash line (a message is only about the action just taken)."""
        if self._flash_timer is not None:
            self._flash_timer.stop()
            self._flash_timer = None
        lines = self.query("#flash")
        if lines:
            line = lines.first(Static)
            line.update("")
            line.remove_class("-error")

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
