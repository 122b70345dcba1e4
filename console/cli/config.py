"""Configuration as code: ``oncall export``, ``oncall apply FILE`` (and ``oncall lint FILE``, which
:mod:`console.cli.drills` hands to :func:`lint_file`). The format: docs/CONFIG.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from console.cli.alerts import _receive_url as _url
from console.cli.main import EXIT_ERROR, EXIT_USAGE, State, echo, echo_json, fail, handle_errors, pass_state
from engine import config as cfg
from engine.service import config as config_service


def _read(path: Path) -> tuple[str, cfg.Format]:
    """The file's text and format (by its extension; TOML otherwise). ``-`` reads standard input."""
    if str(path) == "-":
        return sys.stdin.read(), "toml"
    try:
        return path.read_text(encoding="utf-8"), cfg.format_for(path.name)
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text", EXIT_USAGE)
    except FileNotFoundError:
        fail(f"{path}: no such file", EXIT_USAGE)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(cfg.FORMATS), default=None, help="toml (default) or yaml.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE (its extension picks the format unless --format) instead of standard output.",
)
@click.option("--json", "as_json", is_flag=True, help="The same document as JSON (for scripts).")
@pass_state
@handle_errors
def export_command(state: State, fmt: str | None, output: Path | None, as_json: bool) -> None:
    """Write the organisation's setup as a file: people (no secrets), schedules with their rotation
    layers and future overrides, escalation policies with their layers, integrations, heartbeats,
    notification rules and shift reminders, all by name or email (no ids, tokens or addresses).

    Apply it elsewhere with `oncall apply FILE`; docs/CONFIG.md describes the format."""
    if as_json:
        if fmt or output:
            fail("--json prints the document on standard output; leave out --format and -o", EXIT_USAGE)
        echo_json(config_service.export_data(state.ctx()))
        return
    chosen = cast(cfg.Format, fmt) if fmt else cfg.format_for(output.name if output else "", "toml")
    text = config_service.export_text(state.ctx(), chosen)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    echo(f"wrote {output}")


@click.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Apply the plan (without it: show the plan, change nothing).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def apply_command(state: State, file: Path, yes: bool, as_json: bool) -> None:
    """Show what FILE would create, change and delete; with --yes, apply it in one transaction.

    A section the file has (people, schedules, policies, integrations, heartbeats, notification_rules)
    is managed: objects of that kind missing from it are deleted. Applying the same file twice changes
    nothing. An integration or heartbeat it creates prints its URL once (its token is never in a file)."""
    text, fmt = _read(file)
    ctx = state.ctx()
    if yes:
        plan = config_service.apply_text(ctx, text, fmt, source=str(file))
    else:
        plan = config_service.plan_text(ctx, text, fmt, source=str(file))
    tokens = [{"subject": subject, "path": path, "url": _url(path)} for subject, path in plan.revealed]
    if as_json:
        echo_json({"applied": yes and not plan.empty, **plan.wire(), "tokens": tokens})
        return
    for line in plan.lines():
        echo(line)
    if not plan.empty:
        echo("Applied." if yes else "Nothing was changed: run again with --yes to apply.")
    for subject, path in plan.revealed:
        echo(f"{subject}: its URL (shown once, store it now): {_url(path)}")


def lint_file(state: State, file: Path, weeks: int, as_json: bool) -> None:
    """``oncall lint FILE``: the file's problems (with lines), then the linter's findings on the setup it
    would leave. Exits 1 when there is an error of either kind."""
    text, fmt = _read(file)
    result = config_service.lint_text(state.ctx(), text, fmt, weeks=weeks)
    if as_json:
        echo_json(result.wire())
    else:
        for p in result.problems:
            echo(f"ERROR    {p.text(str(file))}")
        for f in result.findings:
            echo(f"{f.level.upper():<8} {f.subject}: {f.message}  [{f.code}]")
            if f.hint:
                echo(f"         hint: {f.hint}")
        warnings = sum(1 for f in result.findings if f.level == "warning")
        echo(f"{file}: {result.errors} error(s), {warnings} warning(s)")
        if result.plan is not None:
            echo(result.plan.summary())
    if result.errors:
        sys.exit(EXIT_ERROR)
