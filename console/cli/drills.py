"""What-if commands on the real engine: ``oncall drill``, ``simulate``, ``lint`` and ``explain``.

Thin on purpose: the drill runner is :mod:`engine.service.drills`, scenarios :mod:`engine.service.scenarios`, the
linter :mod:`engine.lint` (loaded by :mod:`engine.service.lint`), explanations :mod:`engine.service.explain`. This
module parses options and prints.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from console.cli.main import (
    EXIT_ERROR,
    EXIT_USAGE,
    SPEED,
    AsciiInt,
    AsciiIntRange,
    State,
    echo,
    echo_json,
    fail,
    handle_errors,
    pass_state,
)
from console.cli.table import print_table
from engine.clock import ScaledClock, VirtualClock
from engine.drill import AckPlan, format_instant, format_offset, parse_ack, parse_at
from engine.service import drills as drills_store
from engine.service import scenarios

# -- drill ------------------------------------------------------------------------------------------


def _print_line(line: drills_store.DrillLine, zone: str) -> None:
    echo(f"{format_offset(line.offset):<9} {format_instant(line.at, zone):<29} {line.text}")


def _print_summary(drill: drills_store.Drill) -> None:
    s = drill.summary()
    echo("")
    echo("summary")
    if s["acknowledged"]:
        outcome = f"acknowledged by {s['acknowledgedBy']} at t+{s['timeToAcknowledge']}"
        if s["exhausted"]:
            outcome += " (after the policy was exhausted)"
    elif s["exhausted"]:
        outcome = "EXHAUSTED: every layer was paged and nobody acknowledged"
    else:
        outcome = f"stopped ({s['outcome']})"
    used = ", ".join(str(x) for x in s["layersUsed"]) or "none"
    delivered = (
        f"{s['delivered']} delivered" if drill.deliver else "none delivered (drill; --deliver sends them)"
    )
    rows = [
        ("outcome", outcome),
        ("time to acknowledge", s["timeToAcknowledge"] or "never"),
        ("layers used", f"{used} of {s['layerCount']}"),
        ("people paged", ", ".join(s["peoplePaged"]) or "nobody"),
        ("pages", f"{s['pages']}, {delivered}"),
    ]
    for label, value in rows:
        echo(f"  {label:<20} {value}")


@click.command("drill")
@click.argument("policy")
@click.option(
    "--at",
    "at_text",
    default="now",
    show_default=True,
    help="When the drill incident fires: 'now', a local time such as '2026-03-08 02:30' (read in --tz), "
    "an ISO instant such as 2026-03-08T07:30Z, or 'spring-forward 02:30' / 'fall-back 01:30' / "
    "'next-dst 02:30' (that time on the night of the next clock change).",
)
@click.option(
    "--tz", "zone", help="Zone for a local --at and for the output (default: the policy's first schedule's)."
)
@click.option(
    "--ack",
    "ack_text",
    metavar="LAYER:DELAY",
    help="Someone paged by LAYER acknowledges DELAY later: 2:3m, 1:90s.",
)
@click.option(
    "--no-ack", is_flag=True, help="Nobody acknowledges: run the policy to exhaustion (the default)."
)
@click.option(
    "--speed",
    type=SPEED,
    help="Run on a scaled wall clock, N times real time (60: a minute a second; 0 < N <= 10000).",
)
@click.option("--instant", is_flag=True, help="Run on a virtual clock, without waiting (the default).")
@click.option("--deliver", is_flag=True, help="Really send the pages through the users' contact methods.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def drill_command(
    state: State,
    policy: str,
    at_text: str,
    zone: str | None,
    ack_text: str | None,
    no_ack: bool,
    speed: float | None,
    instant: bool,
    deliver: bool,
    as_json: bool,
) -> None:
    """Rehearse a page with a DRILL incident on POLICY.

    The drill runs on an in-memory copy of the database. Prints each page (who, layer, channel, time), acknowledgements and exhaustion, then a summary.
    Live incidents are never touched and nothing is delivered unless --deliver is given.
    """
    if ack_text and no_ack:
        fail("--ack and --no-ack cannot be used together", EXIT_USAGE)
    if speed is not None and instant:
        fail("--speed and --instant cannot be used together", EXIT_USAGE)
    if speed is None and not instant and state.speed is not None and state.speed != 1:
        speed = state.speed  # `oncall --speed 60 drill …` means the same as `oncall drill … --speed 60`
    ack: AckPlan | None = parse_ack(ack_text) if ack_text else None
    ctx = state.ctx()
    from engine.service.policies import find_policy, load_policy_model

    plan = load_policy_model(ctx.db, find_policy(ctx, policy)["id"])
    shown_zone = zone if zone is not None else drills_store.drill_zone(ctx.db, plan)
    if zone is not None:  # given, even empty, it must be a zone
        from engine import rotation

        try:
            rotation.validate_timezone(zone)
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)
    at, note = parse_at(at_text, shown_zone, ctx.now())
    clock = ScaledClock(speed, origin=at) if speed else VirtualClock(at)
    drill = drills_store.start_drill(
        ctx.db, ctx.org_id, plan.id, at=at, clock=clock, ack=ack, deliver=deliver, zone=shown_zone
    )
    try:
        if not as_json:
            layers = len(plan.layers)
            how = "pages ARE delivered (--deliver)" if deliver else "nothing is delivered"
            echo(
                f"DRILL  {plan.name}  ({layers} layer{'s' if layers != 1 else ''}); {how}; live incidents untouched"
            )
            echo(f"start  {format_instant(drill.t0, shown_zone, year=True)}   times shown in {shown_zone}")
            if note:
                echo(f"note   {note}")
            if ack is None:
                echo("ack    nobody acknowledges (run to exhaustion)")
            else:
                echo(
                    f"ack    the first person layer {ack.layer} pages acknowledges "
                    f"{format_offset(ack.delay)[2:]} after that page"
                )
            if speed:
                echo(f"clock  {speed:g}x real time (ctrl+c stops)")
            echo("")
            for line in drill.lines:
                _print_line(line, shown_zone)
        while not drill.finished:
            if speed:
                wait = drills_store.seconds_until_next(drill)
                if wait is None:
                    break
                if wait > 0:
                    time.sleep(min(wait, 0.5))
            for line in drills_store.advance_drill(drill):
                if not as_json:
                    _print_line(line, shown_zone)
        if as_json:
            echo_json(drills_store.drill_wire(drill, note))
        else:
            _print_summary(drill)
    except KeyboardInterrupt:
        echo(err=True)
        echo("drill stopped", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        drill.close()


# -- simulate ---------------------------------------------------------------------------------------


class _Progress:
    """A plain progress bar on stderr, drawn only on a terminal and only for long runs."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = -1

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        pct = int(fraction * 100)
        if pct == self.last:
            return
        self.last = pct
        width = 30
        filled = int(fraction * width)
        sys.stderr.write(f"\rsimulating [{'#' * filled}{'.' * (width - filled)}] {pct:3d}%")
        if fraction >= 1.0:
            sys.stderr.write("\r" + " " * (width + 24) + "\r")
        sys.stderr.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_offset_plain(seconds)


def format_offset_plain(seconds: float) -> str:
    from datetime import timedelta

    return format_offset(timedelta(seconds=seconds))[2:]


def _bar_chart(people: list[dict[str, Any]], width: int = 40) -> list[str]:
    """Pages per person as plain-character bars: ``#`` daytime pages, ``=`` night pages."""
    top = max((p["pages"] for p in people), default=0)
    name_w = max((len(p["name"]) for p in people), default=4)
    out = []
    for p in people:
        total, night = p["pages"], p["nightPages"]
        cells = 0 if top == 0 else round(total / top * width)
        night_cells = 0 if total == 0 else round(cells * night / total)
        bar = "#" * (cells - night_cells) + "=" * night_cells
        out.append(f"  {p['name']:<{name_w}}  {bar:<{width}}  {total:>5}  ({night} at night)")
    return out


@click.command("simulate")
@click.argument("scenario_path", metavar="SCENARIO.toml", type=click.Path(dir_okay=False))
@click.option(
    "--seed",
    type=AsciiInt(),
    default=0,
    show_default=True,
    help="Same seed, same scenario, same data: same report.",
)
@click.option(
    "--workers",
    type=AsciiIntRange(1, 64),
    default=None,
    help="Processes for large runs (default: automatic).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def simulate_command(state: State, scenario_path: str, seed: int, workers: int | None, as_json: bool) -> None:
    """Simulate weeks of incidents on the real engine.

    SCENARIO.toml describes arrivals, severities, policies and how people respond (see
    examples/scenario.toml and docs/SIMULATION.md). Reports pages and night pages per person, time to acknowledge, incidents that exhausted their policy
    and the minutes each layer had nobody to page. The database is only read.
    """
    ctx = state.ctx()
    scenario = scenarios.load_scenario(ctx, scenario_path)
    weeks = (scenario.end - scenario.start).total_seconds() / (7 * 86_400)
    expected = scenario.per_week * weeks
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if expected >= 50_000 else 1
    progress = _Progress(sys.stderr.isatty() and expected >= 20_000 and not as_json)
    report = scenarios.simulate(scenario, seed, progress=progress, workers=workers)
    data = scenarios.report_wire(scenario, report)
    if as_json:
        echo_json(data)
        return
    zone = scenario.timezone
    start = format_instant(scenario.start, zone, year=True)
    end = format_instant(scenario.end, zone, year=True)
    sev = ", ".join(f"{k} {v}" for k, v in data["bySeverity"].items())
    acked_layers = ", ".join(f"layer {k}: {v}" for k, v in data["ackedAtLayer"].items()) or "none"
    tta = data["timeToAcknowledgeSeconds"]
    echo(
        f"SIMULATION  {scenario_path}  seed {seed}  (the real engine on a virtual clock; nothing is written)"
    )
    echo(f"period               {start} -> {end}  ({weeks:g} week{'s' if weeks != 1 else ''})")
    echo(f"incidents            {data['incidents']}  ({sev}); not paged: {data['notPaged']}")
    echo(f"acknowledged         {data['acknowledged']}  ({acked_layers})")
    echo(
        f"time to acknowledge  p50 {_duration(tta['p50'])}   p95 {_duration(tta['p95'])}   max {_duration(tta['max'])}"
    )
    ex = data["exhausted"]
    line = f"exhausted            {ex} incident{'s' if ex != 1 else ''} ran out of layers"
    if ex:
        line += f" ({data['ackedAfterExhaustion']} acknowledged later): " + ", ".join(
            f"{name} {count}" for name, count in data["exhaustedByPolicy"].items()
        )
    echo(line)
    echo("")
    night = f"{scenario.night_start:%H:%M}-{scenario.night_end:%H:%M}"
    echo(f"pages per person  (# day, = night {night} on their own clock)")
    for row in _bar_chart(data["people"]):
        echo(row)
    echo("")
    echo("minutes each layer had nobody to page, over the period")
    print_table(
        ["POLICY", "LAYER", "NOBODY ON CALL", "ALL ON CALL UNAVAILABLE", "INCIDENTS THAT FOUND NOBODY"],
        [
            [
                row["policy"],
                row["position"],
                f"{row['nobodyOnCallMinutes']:g}",
                f"{row['nobodyAvailableMinutes']:g}",
                row["incidentsFindingNobody"],
            ]
            for row in data["layers"]
        ],
    )


# -- lint -------------------------------------------------------------------------------------------


@click.command("lint")
@click.argument("policy", required=False)
@click.option(
    "--all", "lint_all", is_flag=True, help="Every policy and schedule (the default with no POLICY)."
)
@click.option(
    "--weeks", type=AsciiIntRange(1, 104), default=4, show_default=True, help="How far ahead to look."
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def lint_command(state: State, policy: str | None, lint_all: bool, weeks: int, as_json: bool) -> None:
    """Check policies and schedules, or a configuration file before it is applied; exit 1 on errors.

    Lints POLICY and the schedules it pages, or everything (--all, the default), or FILE.toml / FILE.yaml
    (its shape, the names it uses, the apply, then these checks on the setup it would leave). Levels: error (paging is broken: fix before relying on it), warning (likely a mistake), info (worth
    knowing). See docs/SIMULATION.md for every check.
    """
    if policy and lint_all:
        fail("give a POLICY or --all, not both", EXIT_USAGE)
    if policy and policy.lower().endswith((".toml", ".yaml", ".yml")):
        from console.cli.config import lint_file  # a configuration file (docs/CONFIG.md)

        lint_file(state, Path(policy), weeks, as_json)
        return
    from engine.service import lint as lint_store

    ctx = state.ctx()
    findings = lint_store.lint(ctx, policy, weeks=weeks)
    errors = sum(1 for f in findings if f.level == "error")
    if as_json:
        echo_json(
            {
                "findings": [f.wire() for f in findings],
                "errors": errors,
                "warnings": sum(1 for f in findings if f.level == "warning"),
            }
        )
    else:
        if not findings:
            echo("no findings")
        for f in findings:
            echo(f"{f.level.upper():<8} {f.subject}: {f.message}  [{f.code}]")
            if f.hint:
                echo(f"         hint: {f.hint}")
        counts = {lvl: sum(1 for f in findings if f.level == lvl) for lvl in ("error", "warning", "info")}
        if findings:
            echo("")
            echo(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    if errors:
        sys.exit(EXIT_ERROR)


# -- explain ----------------------------------------------------------------------------------------


@click.command("explain")
@click.argument("incident")
@click.option(
    "--at",
    "at_text",
    help="Also show who would have been paged had it fired then (same forms as drill --at).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def explain_command(state: State, incident: str, at_text: str | None, as_json: bool) -> None:
    """Why each person was or was not paged.

    For INCIDENT (#42, 42 or an id): the policy as the escalation used it, each schedule layer's
    resolution when it was reached, overrides, DST and the timers."""
    from engine.service import explain as explain_store

    ctx = state.ctx()
    at: datetime | None = None
    note: str | None = None
    if at_text is not None:  # given, even empty, it must be a time ('' is not "now")
        zone = explain_store.incident_zone(ctx, incident)
        at, note = parse_at(at_text, zone, ctx.now())
    data = explain_store.explain(ctx, incident, at=at, at_note=note)
    if as_json:
        echo_json(data)
        return
    for line in explain_store.explain_lines(data):
        echo(line)
