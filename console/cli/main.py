"""The ``oncall`` command line.

Every command opens the database given by ``--db`` (or ``ONCALL_DB``, or the user data directory), acts
through the service layer, and turns a :class:`engine.errors.DomainError` into a one-line message and a
non-zero exit code: no tracebacks for bad input. Exit codes: 2 for a request that breaks a rule (a
domain error with HTTP status 400/404/409/422) or a usage error (click's, printed as one ``error: …``
line too), 1 for anything else. The global options ``--db``, ``--org``, ``--as`` and ``--json`` may
follow the command at any depth (:func:`make_options_global`); ``--as`` (or ``ONCALL_AS``, or the
operator file's ``[cli] identity``) names who acts (:meth:`State.ctx`). An error nobody
expected is one line too, naming ``ONCALL_DEBUG=1``, which lets its traceback through instead. Like
standard Unix tools, a command whose reader goes away (``oncall explain 1 | head -1``) stops quietly
with exit 141 (128 + SIGPIPE), printing nothing more.

Numbers on the command line are ASCII digits only (:class:`AsciiInt`, :class:`AsciiFloat`): Python's
``int()`` and ``float()`` would also read other scripts' digits (``١`` as 1).

Only ``init``, ``demo`` and ``sync login`` create a database; every other command (the console, ``serve``
and ``engine`` included) refuses a path where there is none, creating nothing, not even a folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from console.terminal import json_text, terminal_text
from engine.clock import MAX_SPEED, Clock
from engine.clock import check_speed as valid_speed
from engine.errors import DomainError

if TYPE_CHECKING:  # the engine loads when a command opens the database, not for ``--help``
    from click.shell_completion import CompletionItem

    from engine.runtime.operator_config import OperatorConfig
    from engine.service import Ctx
    from engine.service.database import Database

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_PIPE = 141
"""A closed standard output (the reader of a pipe went away): 128 + SIGPIPE, as a shell reports for
standard tools killed by the signal."""


class State:
    """What the global options chose; commands open the database lazily through it."""

    def __init__(
        self,
        db_path: Path | str | None,
        org: str | None,
        speed: float | None,
        *,
        sync_on: bool = False,
        json: bool = False,
        identity: str | None = None,
    ) -> None:
        self.db_path = db_path
        self.org = org
        self.speed = speed
        self.sync_on = sync_on  # the console keeps a Scaling organisation in sync (--sync)
        self.json = json  # --json, given before or after the command: print what the API answers
        self.identity = identity  # --as EMAIL (or ONCALL_AS): who acts; else the configured identity
        self.create = False  # init, demo and sync login set it: only they may create the database file
        # --db typed on this command line (before or after the command), not $ONCALL_DB: the demo uses
        # only such a path, so it never seeds the real database ONCALL_DB names
        self.db_on_command_line = False
        self._db: Database | None = None
        self._clock: Clock | None = None
        self._config: OperatorConfig | None = None

    @property
    def path(self) -> Path | str:
        from engine.service.database import default_db_path

        return self.db_path or default_db_path()

    @property
    def clock(self) -> Clock:
        """The database's clock for ``--speed`` (:func:`engine.service.database.bind_clock`): recorded on first
        use; raises :class:`storage.db_clock.ClockModeError` when the database runs on another clock."""
        if self._clock is None:
            from engine.service.database import bind_clock

            self._clock = bind_clock(self.db(), self.speed)
        return self._clock

    def operator_config(self) -> OperatorConfig:
        """The operator's configuration file (engine/runtime/operator_config.py), read on first use."""
        if self._config is None:
            from engine.runtime.operator_config import load_operator_config

            self._config = load_operator_config()
        return self._config

    def use_speed(self, speed: float | None) -> None:
        """A subcommand's own ``--speed`` (``oncall engine --speed 60``) means the global one."""
        if speed is not None:
            self.speed = check_speed(speed)
            self._clock = None

    def close(self) -> None:
        """Close the database connection, if one was opened (the clock stays bound)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def db(self) -> Database:
        if self._db is None:
            from engine.service.database import open_db

            self._db = open_db(self.path, create=self.create)
        return self._db

    def ctx(self) -> Ctx:
        """The acting context: the chosen (or only) organisation, as the machine's operator (whoever runs
        the CLI or the console holds the database file itself), acting as :meth:`acting_as` names, else
        as the organisation's first admin. A named person who is not a member is 404 ``not_found``."""
        from engine.service import Ctx
        from engine.service.orgs import find_org, find_user, first_admin_id

        db = self.db()
        org_id = find_org(db, self.org)
        uid = first_admin_id(db, org_id)
        ctx = Ctx(
            db=db,
            org_id=org_id,
            actor_id=uid,
            actor_user_id=uid,
            is_admin=True,
            clock=self.clock,
            via="operator",
        )
        who = self.acting_as()
        if who is not None:
            user = find_user(ctx, who)
            ctx = ctx.as_user(user["id"], is_admin=user["role"] == "org:admin")
        return ctx

    def acting_as(self) -> str | None:
        """Who the command acts as (an email or user id): ``--as`` (or ``ONCALL_AS``), else ``[cli]
        identity`` of the operator's configuration file, else None (the organisation's first admin)."""
        if self.identity is not None:
            return self.identity
        return self.operator_config().cli.identity


def _write_line(text: str, *, err: bool = False) -> None:
    """``click.echo`` (which flushes); a closed stream ends the command quietly (:func:`stream_closed`)."""
    try:
        click.echo(text, err=err)
    except BrokenPipeError:
        stream_closed(sys.stderr if err else sys.stdout)


def stream_closed(stream: Any) -> NoReturn:
    """The reader of ``stream`` (stdout or stderr) went away: point its descriptor at ``/dev/null`` so
    Python's flush at exit has nowhere to fail, and exit :data:`EXIT_PIPE` without a message, as standard
    Unix tools do. ``finally`` blocks still run (``SystemExit``)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real descriptor (a test's capture): nothing left to flush to
        pass
    sys.exit(EXIT_PIPE)


def echo(text: object = "", *, err: bool = False) -> None:
    """Print one line of the text output (stdout, or stderr with ``err``), escaped by
    :func:`terminal_text`. Every line the commands print goes through here (or :func:`echo_json`)."""
    _write_line(terminal_text(text), err=err)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: MESSAGE`` as one escaped line on stderr and exit with ``code``."""
    echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Map domain and database errors to ``error: …`` on stderr and an exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            fail(exc.message, EXIT_USAGE if exc.status_code in (400, 404, 409, 422) else EXIT_ERROR)
        except OSError as exc:
            fail(str(exc))
        except Exception as exc:
            from engine.service.database import StorageError  # loaded already: the command used it

            if isinstance(exc, StorageError):
                fail(f"database error: {exc}")
            if isinstance(exc, (ValueError, OverflowError)):
                # A value no parser caught (each known one is a DomainError): one line, not a traceback.
                fail(str(exc) or type(exc).__name__)
            raise

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any, *, compact: bool = False) -> None:
    """``data`` as indented JSON on stdout (``compact``: on one line). JSON already escapes C0 controls;
    DEL, C1 and the bidi controls are escaped too (``\\u202e``), so the output is safe on a terminal and
    still the same JSON."""
    if compact:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    _write_line(json_text(text))


pass_state = click.make_pass_decorator(State)

JSON_HELP = "Print JSON: what the HTTP API answers for the same request."


def json_option(fn: F) -> F:
    """``--json`` on a command: its ``as_json`` argument, also set by the global ``oncall --json``."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(fn)


def report(as_json: bool, data: Any, line: str) -> None:
    """What a write command prints: ``data`` (the object as the HTTP API answers it) as JSON with
    ``--json``, else the one ``line`` saying what changed."""
    if as_json:
        echo_json(data)
    else:
        echo(line)


SPEED_HELP = (
    f"Run the clock N times faster (0 < N <= {MAX_SPEED:g}): demo and drill copies only. A database "
    "records its clock on first use; every later process must open it the same way."
)


def _ascii_integer(text: str) -> bool:
    """``text`` is a whole number in ASCII digits, an optional sign first (``[+-]?[0-9]+``)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


@functools.cache
def _ascii_number() -> re.Pattern[str]:
    """A plain decimal number in ASCII, compiled on first use (``--speed``): not every command's cost."""
    return re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


class DbLocation(click.ParamType):
    """``--db``: a SQLite file path, or a PostgreSQL URL (``postgresql://user@host/db``) kept as text."""

    name = "path|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        text = str(value)
        from console.cli.deferred import import_msgspec

        import_msgspec()  # before the engine's first import (console/cli/deferred.py)
        from engine.service.database import is_db_url

        if is_db_url(text):
            return text
        return Path(text)


DB_LOCATION = DbLocation()
DB_HELP = "SQLite database file or postgresql:// URL"


class AsciiIntRange(click.IntRange):
    """click's ``IntRange`` (no bounds: any integer) reading ASCII digits only: ``int()`` would also take
    ``١`` (Arabic-Indic one) or full-width digits as numbers. A usage error (exit 2) otherwise."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _ascii_integer(value.strip()):
            self.fail(f"{value!r} is not a whole number (ASCII digits 0-9)", param, ctx)
        return super().convert(value, param, ctx)


class AsciiInt(click.types.IntParamType):
    """click's ``INT`` reading ASCII digits only (see :class:`AsciiIntRange`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _ascii_integer(value.strip()):
            self.fail(f"{value!r} is not a whole number (ASCII digits 0-9)", param, ctx)
        return super().convert(value, param, ctx)


class AsciiFloat(click.types.FloatParamType):
    """click's ``FLOAT`` reading a plain decimal number in ASCII only: no ``inf``, ``nan``, ``1_0`` or
    other scripts' digits, which ``float()`` accepts."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _ascii_number().fullmatch(value.strip()):
            self.fail(f"{value!r} is not a number (ASCII digits, such as 2.5)", param, ctx)
        return super().convert(value, param, ctx)


def check_speed(speed: float | str) -> float:
    """``--speed``'s rule, :func:`engine.clock.check_speed`: a finite number with 0 < N <=
    :data:`engine.clock.MAX_SPEED`, written in ASCII digits. Otherwise one ``error: …`` line and exit 2,
    before anything is created or recorded."""
    text = speed.strip() if isinstance(speed, str) else None
    try:
        if text is not None:
            if not _ascii_number().fullmatch(text):
                raise ValueError(text)
            speed = float(text)
        assert not isinstance(speed, str)
        return valid_speed(speed)
    except (ValueError, OverflowError):
        shown = text if text is not None else f"{speed:g}"
        fail(
            f"--speed must be positive and at most {MAX_SPEED:g} (a number such as 60), got {shown}",
            EXIT_USAGE,
        )


class SpeedType(click.ParamType):
    """``--speed N``: checked by :func:`check_speed` as soon as click reads it (a float)."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        return check_speed(value if isinstance(value, float) else str(value))


SPEED = SpeedType()


def speed_option(fn: F) -> F:
    """``--speed N`` on a subcommand (``engine``, ``serve``, ``demo``): the same option and rule as the
    global ``oncall --speed N``; the command passes it to :meth:`State.use_speed`."""
    return click.option("--speed", type=SPEED, default=None, help=SPEED_HELP)(fn)


ORG_HELP = "Organisation id or name, when the database holds several."
AS_ENV = "ONCALL_AS"
AS_HELP = (
    "Act as this person (email or user id; default: $ONCALL_AS, else [cli] identity in the operator's "
    "configuration file, else the organisation's first admin). The timeline names them."
)


class LazyGroup(click.Group):
    """The root group: its commands come from :data:`console.cli.registry.COMMANDS` and a command's module is
    imported only when that command is invoked (click's lazy-loading pattern), so ``oncall ack 1`` pays for
    ``actions`` alone. ``--help``, completion and "did you mean" read the table's names and one-line help
    and import nothing. A loaded command gets the global options (:func:`make_options_global`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from console.cli.registry import COMMANDS

        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            from console.cli.registry import load

            command = load(cmd_name)
            if command is None:
                return None
            self.add_command(command, cmd_name)
        _make_global(command)
        return command

    def _short_help(self, name: str, limit: int) -> str:
        """The one-line help of ``name`` in at most ``limit`` characters, as click shortens a command's."""
        from console.cli.registry import COMMANDS

        loaded = self.commands.get(name)
        if loaded is not None:
            return loaded.get_short_help_str(limit)
        return click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        hidden = {name for name, command in self.commands.items() if command.hidden}
        names = [name for name in names if name not in hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, self._short_help(name, limit)) for name in names])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        items = [
            CompletionItem(name, help=self._short_help(name, 45))
            for name in self.list_commands(ctx)
            if name.startswith(incomplete) and not (name in self.commands and self.commands[name].hidden)
        ]
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # suggest from the whole table, loaded or not
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.option(
    "--db",
    "db_path",
    type=DB_LOCATION,
    envvar="ONCALL_DB",
    help=DB_HELP + " (default: $ONCALL_DB, else the user data directory).",
)
@click.option("--org", help=ORG_HELP)
@click.option("--speed", type=SPEED, default=None, help=SPEED_HELP)
@click.option("--sync", "sync_on", is_flag=True, help="Console: keep a Scaling organisation in sync.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.option("--as", "identity", envvar=AS_ENV, default=None, metavar="EMAIL", help=AS_HELP)
@click.version_option(package_name="oncall")
@click.pass_context
def cli(
    ctx: click.Context,
    db_path: Path | None,
    org: str | None,
    speed: float | None,
    sync_on: bool,
    as_json: bool,
    identity: str | None,
) -> None:
    """oncall: a terminal console for on-call engineers, over a local escalation engine.

    Run without a command to open the console on the configured database. The global options --db,
    --org, --as and --json may also follow the command (oncall ack 12 --as you@example.com --json).
    """
    ctx.obj = State(db_path, org, speed, sync_on=sync_on, json=as_json, identity=identity)
    ctx.obj.db_on_command_line = ctx.get_parameter_source("db_path") is ParameterSource.COMMANDLINE
    ctx.call_on_close(ctx.obj.close)  # the connection and its flock end with the command, not the process
    if ctx.invoked_subcommand is None:
        run_console(ctx.obj)


def run_console(state: State, *, demo: bool = False) -> None:
    from console.tui import run_app  # Textual loads only when the console opens

    handle_errors(run_app)(state, demo=demo)


DEBUG_ENV = "ONCALL_DEBUG"


def one_line_thread_errors() -> None:
    """An exception that escapes a background thread (the engine's scheduler, delivery workers) prints one
    ``error: unexpected …`` line on stderr instead of Python's traceback, unless ``ONCALL_DEBUG=1``."""
    if os.environ.get(DEBUG_ENV) == "1":
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        sys.stderr.write(
            f"error: unexpected {args.exc_type.__name__} in {name}: {terminal_text(str(args.exc_value))} "
            f"(run with {DEBUG_ENV}=1 for the traceback)\n"
        )

    threading.excepthook = hook


def _global_callback(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback setting ``attr`` of the :class:`State` when the option was given."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        state = ctx.find_object(State)
        if state is not None and value not in (None, False):
            setattr(state, attr, value)
            if attr == "db_path":
                state.db_on_command_line = True
        return value

    return callback


def _global_options(command: click.Command) -> list[click.Option]:
    """The root's --db, --org, --as and --json, for a subcommand that has no option of that name itself
    (``oncall init --org NAME`` and ``oncall engine --db`` keep their own)."""
    taken = {opt for p in command.params for opt in p.opts}
    made = [
        click.Option(
            ["--db"],
            type=DB_LOCATION,
            expose_value=False,
            callback=_global_callback("db_path"),
            help=DB_HELP + " (as the global --db).",
        ),
        click.Option(["--org"], expose_value=False, callback=_global_callback("org"), help=ORG_HELP),
        click.Option(
            ["--as", "identity"],
            metavar="EMAIL",
            expose_value=False,
            callback=_global_callback("identity"),
            help="Act as this person (as the global --as).",
        ),
    ]
    if isinstance(command, click.Group) and not any(p.name == "as_json" for p in command.params):
        # ``oncall users --json list``: the group passes it on; a command without --json refuses it
        made.append(
            click.Option(
                ["--json"], is_flag=True, expose_value=False, callback=_global_callback("json"), hidden=True
            )
        )
    return [o for o in made if not taken & set(o.opts)]


def _json_follows_state(callback: Callable[..., Any]) -> Callable[..., Any]:
    """A command's own ``--json`` (its ``as_json`` argument) is also set by the global ``oncall --json``."""

    @wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = click.get_current_context().find_object(State)
        if state is not None:
            if kwargs.get("as_json"):
                state.json = True
            kwargs["as_json"] = state.json
        return callback(*args, **kwargs)

    return wrapper


def make_options_global(group: click.Group) -> None:
    """Accept the global options after the command too: every subcommand, at any depth, gets ``--db``,
    ``--org`` and ``--as`` (unless it has its own option of that name), a group a hidden ``--json`` if it
    has none, each setting the :class:`State` as the root's option would; a command's own ``--json`` and the
    global one are the same switch. Idempotent (``main`` runs once per invocation, tests run it often)."""
    for command in group.commands.values():
        _make_global(command)


def _make_global(command: click.Command) -> None:
    """:func:`make_options_global` for one command and its subcommands (once: it marks what it changed).
    The root's :class:`LazyGroup` calls it for each command it loads."""
    if getattr(command, "_oncall_global", False):
        return
    command.params.extend(_global_options(command))
    if command.callback is not None and any(p.name == "as_json" for p in command.params):
        command.callback = _json_follows_state(command.callback)
    command._oncall_global = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        make_options_global(command)


def _usage_line(exc: click.UsageError) -> str:
    """click's usage error as one line: its message, lower-cased first letter, and where help is."""
    message = exc.format_message().strip().replace("\n", " ")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return message + where


def main() -> None:
    """The ``oncall`` entry point. Whatever escapes a command, or one of its background threads, is one
    ``error:`` line (exit 1 for the command), unless ``ONCALL_DEBUG=1`` asks for the traceback. A usage
    error (unknown option or command, a bad value) is one ``error: …`` line too, exit 2."""
    one_line_thread_errors()
    try:
        code = cli.main(prog_name="oncall", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # ``oncall keys``: the group's help, as before
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        fail(_usage_line(exc), EXIT_USAGE)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        fail("aborted")
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (run with {DEBUG_ENV}=1 for the traceback)")
    if isinstance(code, int) and code:
        sys.exit(code)
