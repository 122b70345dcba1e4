"""The on-call console: five modes (incidents, policies, schedules, people, my on-call) over one database and one clock.

Live data: a timer polls ``PRAGMA data_version`` (it changes when another connection commits: the embedded
engine's, another process's) and the console's own service calls mark the data dirty; either way the
screens on the current stack re-read and apply a keyed diff. A second timer repaints countdowns and the
clock once a second. The engine runs embedded (started on mount, stopped on exit) unless another process
holds its lease, in which case the console is "attached" and only watches.

The same poll checks that the database file is still the one that was opened. Once it was deleted or
replaced (``oncall demo --reset`` in another terminal), the console stops its engine and sync, writes
nothing more, and covers everything with a blocking message whose only key, ``q``, quits (exit code 1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer

from console.terminal import terminal_text
from console.tui.drill_link import SPEEDS, ClockFactory, DrillLink, scaled_drill_clock
from console.tui.engine_link import EngineLink
from console.tui.readmodel import Directory
from console.tui.screens.base import OncallScreen
from console.tui.screens.incidents import IncidentsScreen
from console.tui.sync_link import SyncLink
from engine.clock import Clock
from engine.errors import DomainError
from engine.service import Ctx, orgs
from engine.service.database import Database, DatabaseGone, open_db

if TYPE_CHECKING:
    from textual.command import Provider

T = TypeVar("T")
# When the first screen has not said it is ready by then (see :meth:`OncallApp.console_ready`), the engine
# and sync start anyway.
READY_FALLBACK_S = 3.0


# The first screen is imported eagerly; the others, the palette and help load when first used, which keeps
# process start to first frame short.
def _policies_screen() -> Screen[None]:
    from console.tui.screens.policies import PoliciesScreen

    return PoliciesScreen()


def _schedules_screen() -> Screen[None]:
    from console.tui.screens.schedules import SchedulesScreen

    return SchedulesScreen()


def _people_screen() -> Screen[None]:
    from console.tui.screens.people import PeopleScreen

    return PeopleScreen()


def _reports_screen() -> Screen[None]:
    from console.tui.screens.reports import ReportsScreen

    return ReportsScreen()


def _my_oncall_screen() -> Screen[None]:
    from console.tui.screens.my_oncall import MyOncallScreen

    return MyOncallScreen()


def _oncall_commands() -> type[Provider]:
    from console.tui.commands import OncallCommands

    return OncallCommands


class OncallApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "oncall"
    MODES = {
        "incidents": IncidentsScreen,
        "policies": _policies_screen,
        "schedules": _schedules_screen,
        "people": _people_screen,
        "reports": _reports_screen,
        "mine": _my_oncall_screen,
    }
    DEFAULT_MODE = "incidents"
    COMMANDS = App.COMMANDS | {_oncall_commands}
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("1", "switch_mode('incidents')", "Go to incidents", id="app.incidents", show=False),
        Binding("2", "switch_mode('policies')", "Go to policies", id="app.policies", show=False),
        Binding("3", "switch_mode('schedules')", "Go to schedules", id="app.schedules", show=False),
        Binding("4", "switch_mode('people')", "Go to people", id="app.people", show=False),
        Binding("5", "switch_mode('reports')", "Go to reports", id="app.reports", show=False),
        Binding("m", "switch_mode('mine')", "Go to my on-call", id="app.mine", show=False),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("colon", "open_palette", "Command palette", show=False, id="app.palette"),
        Binding("q", "quit", "Quit", id="app.quit"),
        # j/k move in every list (the focused widget's cursor), as ↓/↑ do; a text field takes them as text.
        Binding("j", "cursor(1)", "", show=False),
        Binding("k", "cursor(-1)", "", show=False),
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
        drill_clock: ClockFactory = scaled_drill_clock,
        drill_step_seconds: float = 0.2,
        flash_seconds: float = 5.0,
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
        self.engine = EngineLink(db_path, self.clock, config=ctx.config)
        self.sync = SyncLink(db_path, self.clock, ctx.org_id)
        self.directory = Directory(ctx)
        self.drills = DrillLink(ctx.db, ctx.org_id, drill_clock)
        self.drill_speeds = SPEEDS
        self.drill_step_seconds = drill_step_seconds
        self.flash_seconds = flash_seconds  # how long a result stays on a screen's flash line
        self._drill_timer: Timer | None = None
        self.org_name: str = orgs.org_name(ctx)
        self._data_version = -1
        self._dirty = False
        self.gone: DatabaseGone | None = None  # set once the database file was deleted or replaced
        self.generation = 0  # bumped on every observed change; screens compare to skip work
        self._writer: Database | None = None  # the workers' own connection (act_in_worker), opened on use
        self._writer_lock = threading.Lock()
        self._console_is_ready = False

    # -- lifecycle -----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self._data_version = self.db.data_version()
        self.set_interval(self.poll_seconds, self.poll_changes)
        self.set_interval(self.tick_seconds, self.tick)
        self.set_timer(READY_FALLBACK_S, self.console_ready)

    def console_ready(self) -> None:
        """The first screen has its rows (the incidents screen calls this once every open incident is
        loaded): now start the embedded engine and sync. They open their own connections, import the
        runtime and may catch up overdue steps, which the person waiting for the incident list should not
        wait for. Once; later calls do nothing."""
        if self._console_is_ready:
            return
        self._console_is_ready = True
        if self.run_engine:
            self.call_after_refresh(self.engine.start)
        if self.sync_on:
            self.call_after_refresh(self.sync.start)

    def on_unmount(self) -> None:
        self.engine.stop()
        self.sync.stop()
        self.drills.close()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # -- live data -----------------------------------------------------------------------------------

    def data_changed(self) -> None:
        """Our own write committed: repaint now (``data_version`` does not see this connection's writes)."""
        self._dirty = True
        self.call_later(self.poll_changes)

    def poll_changes(self) -> None:
        if self.gone is not None:
            return
        try:
            self.db.check_file()
        except DatabaseGone as exc:
            self.database_gone(exc)
            return
        version = self.db.data_version()
        if version == self._data_version and not self._dirty:
            return
        self._data_version = version
        self._dirty = False
        self.generation += 1
        for screen in self.screen_stack:
            if isinstance(screen, OncallScreen) and screen.is_mounted:
                screen.sync()

    def database_gone(self, exc: DatabaseGone) -> None:
        """The file is gone: stop everything that writes and block the console behind one message."""
        if self.gone is not None:
            return
        self.gone = exc
        self._stop_drill_timer()
        self.engine.stop()
        self.sync.stop()
        from console.tui.screens.database_gone import DatabaseGoneScreen

        self.push_screen(DatabaseGoneScreen(self.db.path))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Once the database is gone only quitting is allowed (the blocking screen's ``q``)."""
        if self.gone is not None and action != "quit":
            return False
        return super().check_action(action, parameters)

    def tick(self) -> None:
        if self.gone is not None:
            return
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
        except DatabaseGone as exc:
            self.database_gone(exc)
            return None
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

    def attempt(
        self, fn: Callable[..., object], *args: Any, done: str | None = None, poke: bool = False
    ) -> bool:
        """:meth:`act` for a service call that answers nothing (a delete): True when it succeeded."""

        def call(ctx: Ctx, *a: Any) -> bool:
            fn(ctx, *a)
            return True

        return bool(self.act(call, *args, done=done, poke=poke))

    def act_or_raise(self, fn: Callable[..., T], *args: Any) -> T:
        """Call a service function as the console's user and let its :class:`DomainError` through (for a
        caller that words the refusal itself, as undo does); on success, as :meth:`act`. A vanished
        database blocks the console and raises too; any other failure is logged and raised as a
        DomainError ``internal_error``."""
        try:
            result = fn(self.ctx, *args)
        except DatabaseGone as exc:
            self.database_gone(exc)
            raise DomainError("database_gone", "the database file is gone") from None
        except DomainError:
            raise
        except Exception as exc:  # a bug below must not take the console down
            self.log.error("service call failed", exc_info=exc)
            raise DomainError("internal_error", f"internal error: {type(exc).__name__}") from None
        self.engine.poke()
        self.sync.poke()
        self.data_changed()
        return result

    def act_in_worker(
        self,
        fn: Callable[..., T],
        *args: Any,
        done: str | None = None,
        poke: bool = False,
        then: Callable[[T], None] | None = None,
    ) -> None:
        """:meth:`act` in a worker thread, on the console's own write connection: the event loop never
        waits for the write, so a transaction another process holds (the write lock, up to the 15 s busy
        timeout) leaves the screen answering keys. Once it committed, ``done`` is flashed on the screen
        that was current when it began, ``then(result)`` runs on the event loop, and the screens repaint;
        a domain error is flashed there instead (``then`` is not called)."""
        screen = self.screen if isinstance(self.screen, OncallScreen) else None
        self._act_worker(fn, args, done, poke, then, screen)

    @work(thread=True, group="writes")
    def _act_worker(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        done: str | None,
        poke: bool,
        then: Callable[[T], None] | None,
        screen: OncallScreen | None,
    ) -> None:
        try:
            result = fn(self._writer_ctx(), *args)
        except DatabaseGone as exc:
            self.call_from_thread(self.database_gone, exc)
            return
        except DomainError as exc:
            self.call_from_thread(self._show_error, screen, exc.message, exc.code)
            return
        except Exception as exc:  # a bug below must not take the console down in the middle of an incident
            self.log.error("service call failed", exc_info=exc)
            message = f"internal error: {type(exc).__name__}: {exc}"
            self.call_from_thread(self._show_error, screen, message, "internal_error")
            return
        self.call_from_thread(self._acted, result, done, poke, then, screen)

    def _acted(
        self,
        result: T,
        done: str | None,
        poke: bool,
        then: Callable[[T], None] | None,
        screen: OncallScreen | None,
    ) -> None:
        if poke:
            self.engine.poke()
        self.sync.poke()
        self.data_changed()
        if done and screen is not None and screen.is_attached:
            screen.flash(done)
        if then is not None:
            then(result)

    def _writer_ctx(self) -> Ctx:
        """The console's context on its write connection (opened on first use, in the worker): a second
        connection to the same file, so a write waiting for the lock never holds the one the event loop
        polls and reads with. An in-memory database has only the one."""
        if self.db.path in (":memory:", ""):
            return self.ctx
        with self._writer_lock:
            if self._writer is None:
                self._writer = open_db(self.db.path, create=False, migrate=False, identity=self.db.file)
            return replace(self.ctx, db=self._writer)

    def reader(self) -> Database:
        """A connection for a worker's long read (the console's write connection: the event loop's own
        stays free for the poll and the screens' small reads)."""
        return self._writer_ctx().db

    def _show_error(self, screen: OncallScreen | None, message: str, code: str) -> None:
        if screen is not None and screen.is_attached:
            screen.flash(message, error=True)
        else:
            self.notify(terminal_text(message), title=code, severity="error", markup=False)

    # -- drills --------------------------------------------------------------------------------------

    async def start_drill(self, policy_id: str, speed: float) -> None:
        """Start a drill of ``policy_id`` at ``speed`` and show it on the incidents screen."""
        screen = self.screen if isinstance(self.screen, OncallScreen) else None
        try:
            self.drills.start(policy_id, speed, self.clock.now())
        except DomainError as exc:
            self._show_error(screen, exc.message, exc.code)
            return
        self._drill_timer = self.set_interval(self.drill_step_seconds, self.drive_drill)
        await self.switch_mode("incidents")
        self._drill_changed()
        if isinstance(self.screen, OncallScreen):
            self.screen.flash(f"drill at {speed:g}×: a acknowledges · nothing delivered, live data untouched")

    def drive_drill(self) -> None:
        """The drill timer: run what is due on the drill's clock, repaint its row, end it when done."""
        if self.drills.drill is None:
            return
        try:
            self.drills.step()
        except Exception as exc:  # a broken drill must not take the console down
            self.log.error("drill step failed", exc_info=exc)
            self.notify(
                terminal_text(f"drill stopped: {type(exc).__name__}: {exc}"), severity="error", markup=False
            )
            self._stop_drill_timer()
            self._drill_closed()
            return
        self._drill_changed()
        # The interval bounds how late a step can run; when the next step is due sooner, wake for it.
        drill = self.drills.drill
        from engine.service import drills as drills_store

        wait = None if drill is None else drills_store.seconds_until_next(drill)
        if wait is not None and 0 < wait < self.drill_step_seconds:  # (always 0 on a virtual clock)
            self.set_timer(wait, self.drive_drill)

    def acknowledge_drill(self) -> None:
        """``a`` on the drill's row: acknowledge it as the console's user, on the drill's clock."""
        lines = self.drills.acknowledge(self.ctx)
        self._drill_changed()
        screen = self.screen if isinstance(self.screen, OncallScreen) else None
        if screen is not None and any(line.kind == "ack" for line in lines):
            screen.flash("DRILL acknowledged")

    def _drill_changed(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, OncallScreen) and screen.is_mounted:
                screen.drill_changed()
        drill = self.drills.drill
        if drill is not None and drill.finished and self._drill_timer is not None:
            self._stop_drill_timer()
            from console.tui.screens.drill import DrillScoreScreen

            self.push_screen(DrillScoreScreen(drill, self.drills.speed), lambda _: self._drill_closed())

    def _stop_drill_timer(self) -> None:
        if self._drill_timer is not None:
            self._drill_timer.stop()
            self._drill_timer = None

    def _drill_closed(self) -> None:
        self.drills.close()
        for screen in self.screen_stack:
            if isinstance(screen, OncallScreen) and screen.is_mounted:
                screen.drill_changed()
        if isinstance(self.screen, OncallScreen):
            self.screen.flash("drill over: its incident is gone; the live database was never written")

    # -- actions -------------------------------------------------------------------------------------

    def action_open_palette(self) -> None:
        """``:`` as in k9s. (Named apart from ``command_palette`` so Textual still binds ctrl+p.)"""
        self.action_command_palette()

    async def run_action(
        self,
        action: str | tuple[str, str, tuple[object, ...]],
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every key binding, palette command and click runs through here: the screen's flash line
        (the last action's outcome) is cleared first, so it never describes an older action."""
        screen = self.screen
        if isinstance(screen, OncallScreen) and screen.is_mounted:
            try:
                target, name, params = self._parse_action(
                    action, self if default_namespace is None else default_namespace, namespaces
                )
            except Exception:  # Textual reports a bad action itself, below
                target, name, params = None, "", ()
            # Only an action that will run (a dimmed key does nothing, so it changes nothing on screen).
            if target is not None and not name.startswith("cursor") and target.check_action(name, params):
                screen.clear_flash()
        return await super().run_action(action, default_namespace, namespaces)

    def action_cursor(self, delta: int) -> None:
        """``j``/``k``: move the focused list's cursor (option lists, layer lists, tables)."""
        widget = self.focused
        if widget is None:
            return
        action = getattr(widget, "action_cursor_down" if delta > 0 else "action_cursor_up", None)
        if callable(action):
            action()

    def action_help(self) -> None:
        from console.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))


def run_app(state: Any, *, demo: bool = False) -> None:
    """Open the console for the CLI's state (database path, clock, organisation, sync flag, and the
    operator's configuration, which the embedded engine's delivery obeys)."""
    ctx = replace(state.ctx(), config=state.operator_config())
    app = OncallApp(
        ctx,
        db_path=str(state.path),
        sync_on=state.sync_on,
        demo=demo,
    )
    try:
        app.run()
    finally:
        app.engine.stop()
        app.sync.stop()
    if app.gone is not None:
        raise app.gone  # the CLI prints it as one ``error:`` line and exits 1
