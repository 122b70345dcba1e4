"""console/terminal.py's fast paths (issue 17: the patterns compile on first use, and text without a
character to escape never needs them) give exactly what the patterns alone give, for every code point."""

from __future__ import annotations

import json
import sys

import pytest

from console.terminal import (
    _escape,
    _escape_keeping_lines,
    json_text,
    json_unsafe,
    terminal_text,
    terminal_unsafe,
)

EVERY_CHARACTER = "".join(chr(c) for c in range(sys.maxunicode + 1))


@pytest.mark.parametrize("lines", [False, True], ids=["one-line", "lines"])
def test_terminal_text_escapes_as_the_pattern_alone(lines: bool) -> None:
    slow = _escape_keeping_lines if lines else _escape
    for start in range(0, len(EVERY_CHARACTER), 4096):
        chunk = EVERY_CHARACTER[start : start + 4096]
        assert terminal_text(chunk, lines=lines) == terminal_unsafe().sub(slow, chunk)
    for c in EVERY_CHARACTER[:0x10000]:  # each alone, so the fast path is taken wherever it can be
        assert terminal_text(c, lines=lines) == terminal_unsafe().sub(slow, c), hex(ord(c))
    assert terminal_text("DB 80% on log-shipper-3") == "DB 80% on log-shipper-3"
    assert terminal_text("a\x1b[2Jb\u202ec") == "a\\x1b[2Jb\\u202ec"


def test_json_text_escapes_as_the_pattern_alone() -> None:
    def slow(text: str) -> str:
        return json_unsafe().sub(lambda m: f"\\u{ord(m.group()):04x}", text)

    for c in EVERY_CHARACTER[:0x10000]:  # each alone, so the fast path is taken wherever it can be
        text = json.dumps({"title": c}, ensure_ascii=False)
        assert json_text(text) == slow(text), hex(ord(c))
    for start in range(0, len(EVERY_CHARACTER), 4096):
        text = json.dumps([EVERY_CHARACTER[start : start + 4096]], indent=2, ensure_ascii=False)
        assert json_text(text) == slow(text)
    assert json_text('"\x7f"') == '"\\u007f"' and json_text('"\u2028"') == '"\\u2028"'
