"""Text from storage as a terminal may safely show it: the one escaping rule for the CLI and the console.

The service layer refuses control characters in every text field (engine/service/validate.py), but
rows written by an older version, or by a bug, may still hold them; whatever reaches a terminal goes
through :func:`terminal_text` (the CLI's ``echo`` and tables, the console's :func:`plain` text) so that it
is shown, never acted on.
"""

from __future__ import annotations

import re

# What a terminal would act on rather than show: C0 (ESC starts every escape sequence; CR, BS and LF
# rewrite lines), DEL, C1 (8-bit CSI), line/paragraph separators, bidi marks, embeddings, overrides and
# isolates, and lone surrogates (undecodable input).
TERMINAL_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# What JSON text output must escape beyond json.dumps (which escapes C0 already).
JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: object, *, lines: bool = False) -> str:
    """``str(text)`` with every character a terminal would act on shown as a visible escape (ESC as
    ``\\x1b``, a newline as ``\\x0a``, a right-to-left override as ``\\u202e``), so stored data (from
    sync, an older version or a bug) can never move the cursor, clear the screen, retitle the window
    or reorder what is shown. The result is one line, unless ``lines`` keeps line feeds and tabs (free
    text shown across several lines)."""
    return TERMINAL_UNSAFE.sub(_escape_keeping_lines if lines else _escape, str(text))


def _escape_keeping_lines(match: re.Match[str]) -> str:
    return match.group() if match.group() in "\n\t" else _escape(match)
