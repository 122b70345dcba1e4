"""Plain aligned tables for the read commands (no colour, so output pipes cleanly)."""

from __future__ import annotations

from collections.abc import Sequence

from console.cli.main import echo, terminal_text


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """One line per row, columns aligned; every cell escaped by :func:`console.cli.main.terminal_text` first
    (so a control character in stored data is shown, never acted on, and cannot break the line)."""
    cells = [[terminal_text(c) for c in headers]] + [
        ["" if c is None else terminal_text(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if not rows:
        echo("(none)")
