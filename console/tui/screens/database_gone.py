"""The blocking message shown once the database file was deleted or replaced under the console."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


class DatabaseGoneScreen(ModalScreen[None]):
    """Covers every screen; only ``q`` works (it quits). The console has already stopped writing."""

    DEFAULT_CSS = """
    DatabaseGoneScreen { align: center middle; }
    DatabaseGoneScreen > Vertical { width: 64; max-width: 100%; height: auto; border: thick $error;
        background: $surface; padding: 0 1; }
    DatabaseGoneScreen #gone-title { text-style: bold; color: $error; }
    """

    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("✖ Database gone", id="gone-title")
            yield Static(
                Content(
                    f"The database file {self.path} was deleted or replaced (for example by "
                    "`oncall demo --reset`). This console has stopped writing and the engine in it has "
                    "stopped; nothing you do here would be saved.\n\nPress q to quit, then start oncall "
                    "again on the new file."
                ),
                id="gone-message",
            )
