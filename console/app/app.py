"""The on-call console: three modes (incidents, policies, schedules) over one database and one clock.

Live data: a timer polls ``PRAGMA data_version`` (it changes when another connection commits: the embedded
engine's, another process's) and the console's own service calls mark the data dirty; either way the
screens on the current stack re-read and apply a keyed diff. A second timer repaints countdowns and the
clock once a second. The engine runs embedded (started on mount, stopped on exit) unless another process
holds its lease, in which case the console is "attached" and only watches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App
from textual.binding import Binding
from textual.command import Provider
from textual.screen import Screen

from console.app.engine_link import EngineLink
from console.app.readmodel import Directory
from console.app.screens.base import OncallScreen
from console.app.screens.incidents import IncidentsScreen
from console.app.sync_link import SyncLink
from engine.clock import Clock
from engine.errors import DomainError
from storage.service import Ctx

T = TypeVar("T")


# The first screen is imported eagerly; the others, the palette and help load when first used, which keeps
# process start to first frame short.
def _policies_screen() -> Screen[None]:
    from console.app.screens.policies import PoliciesScreen

    return PoliciesScreen()


def _schedules_screen() -> Screen[None]:
    from console.app.screens.schedules import SchedulesScreen

    return SchedulesScreen()


def _oncall_commands() -> type[Provider]:
    from console.app.commands import OncallCommands

    return OncallCommands


class OncallApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "oncall"
    MODES = {"incidents": IncidentsScreen, "policies": _policies_screen, "schedules": _schedules_screen}
    DEFAULT_MODE = "incidents"
    COMMANDS = App.COMMANDS | {_oncall_commands}
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("1", "switch_mode('incidents')", "Go to incidents", id="app.incidents", show=False),
        Binding("2", "switch_mode('policies')", "Go to policies", id="app.policies", show=False),
        Binding("3", "switch_mode('schedules')", "Go to schedules", id="app.schedules", show=False),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("colon", "open_palette", "Command palette", show=False, id="app.palette"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        ctx: Ctx,
        *,
        db_path: str | None = None,
        run_engine: bool = True,
        sync_on: bool = False,
        demo: bool = False,
        poll_seconds: float = 0.25,
        tick_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.clock: Clock = ctx.clock
        self.db = ctx.db
        self.sync_on = sync_on
        self.demo = demo
        self.poll_seconds = poll_seconds
        self.tick_seconds = tick_seconds
        self.run_engine = run_engine
        self.engine = EngineLink(db_path, self.clock)
        self.sync = SyncLink(db_path, self.clock, ctx.org_id)
        self.directory = Directory(ctx)
        row = ctx.db.one("SELECT name FROM orgs WHERE id = ?", (ctx.org_id,))
        self.org_name: str = row["name"] if row else ctx.org_id
        self._data_version = -1
        self._dirty = False
        self.generation = 0  # bumped on every observed change; screens compare to skip work

    # -- lifecycle -----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        if self.run_engine:
            # After the first frame: the engine opens its own connections and schedulers, which the
            # person waiting for the incident list should not have to wait for.
            self.call_after_refresh(self.engine.start)
        if self.sync_on:
            self.call_after_refresh(self.sync.start)
        self._data_version = self.db.data_version()
        self.set_interval(self.poll_seconds, self.poll_changes)
        self.set_interval(self.tick_seconds, self.tick)

    def on_unmount(self) -> None:
        self.engine.stop()
        self.sync.stop()

    # -- live data -----------------------------------------------------------------------------------

    def data_changed(self) -> None:
        """Our own write committed: repaint now (``data_version`` does not see this connection's writes)."""
        self._dirty = True
        self.call_later(self.poll_changes)

    def poll_changes(self) -> None:
        version = self.db.data_version()
        if version == self._data_version and not self._dirty:
            return
        self._data_version = version
        self._dirty = False
        self.generation += 1
        for screen in self.screen_stack:
            if isinstance(screen, OncallScreen) and screen.is_mounted:
                screen.sync()

    def tick(self) -> None:
        now = self.clock.now()
        for screen in self.screen_stack:
            if isinstance(screen, OncallScreen) and screen.is_mounted:
                screen.tick(now)

    # -- service calls -------------------------------------------------------------------------------

    def act(self, fn: Callable[..., T], *args: Any, done: str | None = None, poke: bool = False) -> T | None:
        """Call a service function as the console's user; show the outcome (or the domain error) inline."""
        screen = self.screen if isinstance(self.screen, OncallScreen) else None
        try:
            result = fn(self.ctx, *args)
        except DomainError as exc:
            self._show_error(screen, exc.message, exc.code)
            return None
        except Exception as exc:  # a bug below must not take the console down in the middle of an incident
            self.log.error("service call failed", exc_info=exc)
            self._show_error(screen, f"internal error: {type(exc).__name__}: {exc}", "internal_error")
            return None
        if poke:
            self.engine.poke()
        self.sync.poke()
        self.data_changed()
        if done and screen is not None:
            screen.flash(done)
        return result

    def _show_error(self, screen: OncallScreen | None, message: str, code: str) -> None:
        if screen is not None:
            screen.flash(message, error=True)
        else:
            self.notify(message, title=code, severity="error")

    # -- actions -------------------------------------------------------------------------------------

    def action_open_palette(self) -> None:
        """``:`` as in k9s. (Named apart from ``command_palette`` so Textual still binds ctrl+p.)"""
        self.action_command_palette()

    def action_help(self) -> None:
        from console.app.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))


def run_app(state: Any, *, demo: bool = False) -> None:
    """Open the console for the CLI's state (database path, clock, organisation, sync flag)."""
    ctx = state.ctx()
    app = OncallApp(
        ctx,
        db_path=str(state.path),
        sync_on=bool(getattr(state, "sync_on", False)),
        demo=demo,
    )
    try:
        app.run()
    finally:
        app.engine.stop()
        app.sync.stop()
