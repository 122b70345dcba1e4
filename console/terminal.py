"""Text from storage as a terminal may safely show it: the one escaping rule for the CLI and the console.

The service layer refuses control characters in every text field (engine/service/validate.py), but
rows written by an older version, or by a bug, may still hold them; whatever reaches a terminal goes
through :func:`terminal_text` (the CLI's ``echo`` and tables, the console's :func:`plain` text) so that it
is shown, never acted on.
"""

from __future__ import annotations

import re
from functools import cache

# What a terminal would act on rather than show: C0 (ESC starts every escape sequence; CR, BS and LF
# rewrite lines), DEL, C1 (8-bit CSI), line/paragraph separators, bidi marks, embeddings, overrides and
# isolates, and lone surrogates (undecodable input). Every one of them is a non-printable character
# (``str.isprintable``), which is the fast path: most text has none and needs no regular expression.
_TERMINAL_UNSAFE = (
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# What JSON text output must escape beyond json.dumps (which escapes C0 already): DEL and non-ASCII only.
_JSON_UNSAFE = r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"


@cache
def terminal_unsafe() -> re.Pattern[str]:
    """The characters :func:`terminal_text` escapes, compiled on first use: the class spans the
    surrogates, so compiling it builds a map of the whole basic plane, a tenth of a read command's
    start-up if every command paid it (issue 17)."""
    return re.compile(_TERMINAL_UNSAFE)


@cache
def json_unsafe() -> re.Pattern[str]:
    """The characters JSON text output escapes beyond ``json.dumps`` (:func:`json_text`), compiled on
    first use."""
    return re.compile(_JSON_UNSAFE)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: object, *, lines: bool = False) -> str:
    """``str(text)`` with every character a terminal would act on shown as a visible escape (ESC as
    ``\\x1b``, a newline as ``\\x0a``, a right-to-left override as ``\\u202e``), so stored data (from
    sync, an older version or a bug) can never move the cursor, clear the screen, retitle the window
    or reorder what is shown. The result is one line, unless ``lines`` keeps line feeds and tabs (free
    text shown across several lines)."""
    shown = str(text)
    if shown.isprintable():  # none of them (each is non-printable): nothing to escape
        return shown
    return terminal_unsafe().sub(_escape_keeping_lines if lines else _escape, shown)


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL, C1 and the bidi controls
    escaped as ``\\u…``: still the same JSON, and safe on a terminal."""
    if text.isascii() and "\x7f" not in text:  # every other one is non-ASCII
        return text
    return json_unsafe().sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape_keeping_lines(match: re.Match[str]) -> str:
    return match.group() if match.group() in "\n\t" else _escape(match)
