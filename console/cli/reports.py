"""``oncall report``: MTTA and MTTR, pages and night pages per person, incidents per policy and severity,
exhausted escalations and the busiest hours of a period, from the real timeline (docs/REPORTS.md).

Thin: the figures are :mod:`engine.service.reports` (the definitions ``oncall simulate`` uses); this module
parses options and prints them with plain-character bars and the numbers beside them.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli.main import State, echo, echo_json, handle_errors, json_option, pass_state
from engine.reports import format_duration as duration
from engine.service import reports

BAR_WIDTH = 30


def bars(rows: list[tuple[str, int, int]], width: int = BAR_WIDTH) -> list[str]:
    """One line per ``(label, total, part)``: a bar of ``#`` with the part drawn as ``=``, then the
    numbers. Bars are scaled to the largest total."""
    top = max((t for _, t, _ in rows), default=0)
    label_w = max((len(label) for label, _, _ in rows), default=0)
    out = []
    for label, total, part in rows:
        cells = 0 if top == 0 else round(total / top * width)
        part_cells = 0 if total == 0 else round(cells * part / total)
        bar = "#" * (cells - part_cells) + "=" * part_cells
        out.append(f"  {label:<{label_w}}  {bar:<{width}}  {total:>5}")
    return out


def print_report(data: dict[str, Any]) -> None:
    """The report as text: a summary, then each chart with its numbers."""
    tta, ttr = data["timeToAcknowledgeSeconds"], data["timeToResolveSeconds"]
    night = f"{data['night']['start']}-{data['night']['end']}"
    echo(f"REPORT  {data['from']} -> {data['to']}  (hours in {data['timezone']})")
    echo(
        f"incidents            {data['incidents']}   acknowledged {data['acknowledged']}   resolved {data['resolved']}"
    )
    echo(
        f"MTTA                 {duration(tta['mean'])}   (p50 {duration(tta['p50'])}, "
        f"p95 {duration(tta['p95'])}, max {duration(tta['max'])})"
    )
    echo(
        f"MTTR                 {duration(ttr['mean'])}   (p50 {duration(ttr['p50'])}, "
        f"p95 {duration(ttr['p95'])}, max {duration(ttr['max'])})"
    )
    ex = data["exhausted"]
    echo(
        f"exhausted            {ex} incident{'s' if ex != 1 else ''} ran out of layers"
        f" ({data['ackedAfterExhaustion']} acknowledged later)"
    )
    echo("")
    echo(f"pages per person  (= night {night}, on the clock of the schedule that paged them)")
    people = data["people"]
    for line, p in zip(bars([(p["name"], p["pages"], p["nightPages"]) for p in people]), people, strict=True):
        echo(f"{line}  ({p['nightPages']} at night)")
    if not people:
        echo("  nobody was paged")
    echo("")
    echo("incidents per policy  (= exhausted)")
    for line in bars([(p["policy"], p["incidents"], p["exhausted"]) for p in data["byPolicy"]]):
        echo(line)
    if not data["byPolicy"]:
        echo("  no incidents")
    echo("")
    echo("incidents per severity")
    for line in bars([(sev, n, 0) for sev, n in data["bySeverity"].items()]):
        echo(line)
    echo("")
    echo(f"busiest hours  (incidents opened, {data['timezone']})")
    hours = data["busiestHours"]
    ranked = sorted(range(24), key=lambda h: (-hours[h], h))[:5]
    for line in bars([(f"{h:02d}:00", hours[h], 0) for h in ranked if hours[h]]):
        echo(line)
    if not any(hours):
        echo("  no incidents")


@click.command("report")
@click.option("--from", "from_text", default=None, help="Start of the period (default: 28 days before --to).")
@click.option(
    "--to", "to_text", default=None, help="End of the period (default: now; a date includes that day)."
)
@click.option(
    "--tz", default="UTC", show_default=True, help="Zone for local --from/--to and the busiest hours."
)
@json_option
@pass_state
@handle_errors
def report_command(state: State, from_text: str | None, to_text: str | None, tz: str, as_json: bool) -> None:
    """MTTA, MTTR, pages and night pages per person, incidents per policy and severity, exhausted
    escalations and the busiest hours of a period, from the incident timeline (docs/REPORTS.md).

    --from/--to: a date, a local date and time (in --tz), an ISO 8601 instant, now or today.
    """
    data = reports.report(state.ctx(), from_text, to_text, tz)
    if as_json:
        echo_json(data)
        return
    print_report(data)
