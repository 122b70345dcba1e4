"""How domain values look on screen: glyph + word + colour for every state, durations, names.

Colour is never the only signal: every severity and status carries a glyph and a word, so the console stays
readable under ``NO_COLOR`` (where Textual strips colour but keeps bold and reverse). Every function here
is pure: time comes in as arguments, never from the machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.text import Text

from console.terminal import terminal_text

# Okabe-Ito colour-blind-safe palette; no red-versus-green pair carries meaning.
VERMILLION = "#D55E00"
ORANGE = "#E69F00"
YELLOW = "#F0E442"
SKY = "#56B4E9"
BLUE = "#0072B2"
GREEN = "#009E73"
PURPLE = "#CC79A7"

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SEVERITY_LOOK: dict[str, tuple[str, str, str]] = {
    "critical": ("▲", "CRIT", f"bold {VERMILLION}"),
    "high": ("◆", "HIGH", f"bold {ORANGE}"),
    "medium": ("●", "MED", YELLOW),
    "low": ("○", "LOW", SKY),
}
STATUS_LOOK: dict[str, tuple[str, str, str, str]] = {
    # status: (glyph, word, short word, style)
    "investigating": ("◔", "investigating", "invest.", f"bold {VERMILLION}"),
    "identified": ("◑", "identified", "identif.", ORANGE),
    "monitoring": ("◕", "monitoring", "monitor.", SKY),
    "resolved": ("✓", "resolved", "resolved", f"dim {BLUE}"),
}


def severity_text(severity: str, *, no_color: bool = False) -> Text:
    glyph, word, style = SEVERITY_LOOK.get(severity, ("?", severity.upper(), ""))
    if no_color and severity == "critical":
        style = "bold reverse"
    return Text(f"{glyph} {word}", style=style, no_wrap=True)


def status_text(status: str, *, short: bool = False) -> Text:
    glyph, word, short_word, style = STATUS_LOOK.get(status, ("?", status, status, ""))
    return Text(f"{glyph} {short_word if short else word}", style=style, no_wrap=True)


def plain(text: str | None, *, style: str = "", ellipsis: bool = True) -> Text:
    """Text from outside (titles, notes, names) as a Text object: never parsed as markup, and control
    characters shown as escapes (:func:`console.terminal.terminal_text`; free text shown folded, with
    ``ellipsis=False``, keeps its line feeds and tabs)."""
    shown = terminal_text(text or "", lines=not ellipsis)
    return Text(shown, style=style, no_wrap=True, overflow="ellipsis" if ellipsis else "fold")


DRILL_MARK = ("⚑ DRILL", "bold reverse")


def drill_title(title: str) -> Text:
    """A drill incident's title behind the DRILL mark (the stored ``DRILL:`` prefix is not repeated)."""
    rest = title[len("DRILL:") :].lstrip() if title.upper().startswith("DRILL:") else title
    return Text.assemble(DRILL_MARK, " ", rest, no_wrap=True, overflow="ellipsis")


def countdown(seconds: float) -> str:
    """``14:59`` under a quarter of an hour, ``45m`` under an hour, ``1h05m`` under a day, ``2d03h`` beyond;
    ``0:00`` when overdue. Seconds only where they matter: a countdown that moves every second costs a
    terminal write every second (a line of the table), so the far-off ones move once a minute."""
    s = max(0, int(seconds))
    if s < 900:
        return f"{s // 60}:{s % 60:02d}"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86_400}d{(s % 86_400) // 3600:02d}h"


def countdown_text(due: datetime | None, now: datetime, state: str | None) -> Text:
    """The countdown to the next escalation, or the word for why there is none."""
    if due is None:
        word = {"acknowledged": "acked", "exhausted": "ended", "stopped": "stopped"}.get(state or "", "—")
        return Text(word, style="dim", no_wrap=True)
    left = (due - now).total_seconds()
    style = "bold reverse" if left < 60 else ("bold" if left < 300 else "")
    prefix = "⏱" if state != "snoozed" else "z"
    return Text(f"{prefix}{countdown(left)}", style=style, no_wrap=True)


def ago(then: datetime, now: datetime) -> str:
    s = int((now - then).total_seconds())
    if s < 60:
        return f"{max(s, 0)}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86_400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m ago"
    return f"{s // 86_400}d ago"


def minutes_label(minutes: int) -> str:
    """``0m``, ``45m``, ``1h30m``, ``2d``: when an escalation layer is reached."""
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        h, m = divmod(minutes, 60)
        return f"{h}h{m:02d}m" if m else f"{h}h"
    d, rest = divmod(minutes, 1440)
    return f"{d}d{rest // 60}h" if rest else f"{d}d"


def local(dt: datetime, tz: str | None = None) -> datetime:
    return dt.astimezone(ZoneInfo(tz)) if tz else dt


def short_time(dt: datetime, tz: str | None = None) -> str:
    """``Mon 14:05`` in ``tz`` (UTC when None)."""
    d = local(dt, tz)
    return d.strftime("%a %H:%M")


def stamp(dt: datetime, tz: str | None = None) -> str:
    """``2026-03-02 14:05:09`` in ``tz`` (UTC when None, marked ``Z``)."""
    d = local(dt, tz)
    return d.strftime("%Y-%m-%d %H:%M:%S") + ("" if tz else "Z")


def until(end: datetime | None, now: datetime, tz: str | None = None) -> str:
    if end is None:
        return "indefinitely"
    if end - now < timedelta(days=6):
        return f"until {short_time(end, tz)}"
    return f"until {local(end, tz).strftime('%d %b %H:%M')}"


def alert_count_text(count: int | None) -> str:
    """The incident list's alert-count cell: blank for an incident alerts did not open, else the count
    in at most 3 characters (``7``, ``999``, ``12k``)."""
    if count is None:
        return ""
    return str(count) if count < 1000 else f"{min(count // 1000, 99)}k"
