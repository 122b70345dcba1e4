"""Schema checks shared by every service function: they raise 422 ``validation_error`` with the field.

Text rules (every string field, whichever surface or sync it came from):

* no control characters: C0 (U+0000–U+001F, so ESC and every terminal escape sequence), DEL (U+007F),
  C1 (U+0080–U+009F), the line and paragraph separators (U+2028, U+2029), the bidirectional embeddings,
  overrides and isolates (U+202A–U+202E, U+2066–U+2069) and lone surrogates. Free text that may span lines
  (descriptions, notes, update bodies: ``multiline=True``) may also hold tab, line feed and CR LF;
  names, titles, ids and every other field may not;
* names and titles (:func:`name_string`, :func:`person_name`) need at least one visible character: a
  name made only of spaces, zero-width characters (U+200B–U+200D, U+2060, U+FEFF, …), combining marks or
  blank fillers (U+3164, U+2800, …) would show as nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from engine.errors import ValidationError

# What no field may hold; free text (``multiline``) may also hold tab, line feed and CR LF.
_REFUSED_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_REFUSED_IN_TEXT = re.compile(
    r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Letters, digits, punctuation and symbols are visible, except these blank fillers.
_BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_VISIBLE_CATEGORIES = ("L", "N", "P", "S")


def check_characters(text: str, name: str, *, multiline: bool = False) -> str:
    """``text`` unchanged if it holds no refused character (module docstring); else 422 on ``name``,
    naming the first offending code point and its position (0-based)."""
    found = (_REFUSED_IN_TEXT if multiline else _REFUSED_IN_LINE).search(text)
    if found is not None:
        char = found.group()[0]
        raise ValidationError(
            f"{name} must not contain control characters (U+{ord(char):04X} at position {found.start()})",
            field=name,
        )
    return text


def is_visible(text: str) -> bool:
    """True if ``text`` has a character that shows: a letter, digit, punctuation or symbol that is not
    a blank filler (so not only spaces, zero-width characters or combining marks)."""
    return any(
        unicodedata.category(c).startswith(_VISIBLE_CATEGORIES) and c not in _BLANK_FILLERS for c in text
    )


def require(body: dict[str, Any], name: str) -> Any:
    if name not in body or body[name] is None:
        raise ValidationError(f"{name} is required", field=name)
    return body[name]


def string(
    value: Any,
    name: str,
    *,
    min_len: int = 0,
    max_len: int | None = None,
    nullable: bool = False,
    multiline: bool = False,
) -> str | None:
    """A string field of ``min_len``..``max_len`` characters (None allowed when ``nullable``), without
    control characters (``multiline`` free text may hold tab, LF and CR LF). Raises 422 on ``name``."""
    if value is None:
        if nullable:
            return None
        raise ValidationError(f"{name} is required", field=name)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if len(value) < min_len:
        if min_len == 1:
            raise ValidationError(f"{name} must not be empty", field=name)
        raise ValidationError(f"{name} must be at least {min_len} characters", field=name)
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"{name} must be at most {max_len} characters", field=name)
    return check_characters(value, name, multiline=multiline)


def name_string(value: Any, name: str = "name", max_len: int = 255) -> str:
    """A required one-line name or title with at least one visible character (422 on ``name``)."""
    text = string(value, name, min_len=1, max_len=max_len)
    assert text is not None
    if not is_visible(text):
        raise ValidationError(f"{name} must not be blank", field=name)
    return text


def person_name(value: Any, name: str, max_len: int = 255) -> str | None:
    """An optional one-line personal name (``firstName``, ``lastName``): None or empty, or with at least
    one visible character (422 on ``name``)."""
    text = string(value, name, max_len=max_len, nullable=True)
    if text and not is_visible(text):
        raise ValidationError(f"{name} must not be blank", field=name)
    return text


def integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError(f"{name} must be an integer", field=name)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}", field=name)
    if maximum is not None and value > maximum:
        raise ValidationError(f"{name} must be at most {maximum}", field=name)
    return value


def enum(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(f"{name} must be one of: {', '.join(allowed)}", field=name)
    return value


def string_list(value: Any, name: str, *, min_items: int = 0) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"{name} must be a list of ids", field=name)
    if len(value) < min_items:
        raise ValidationError(f"{name} must have at least {min_items} item(s)", field=name)
    return list(value)


def only_fields(body: Any, allowed: set[str], what: str = "body") -> dict[str, Any]:
    """The body must be a JSON object; unknown fields are rejected so typos never pass silently."""
    if not isinstance(body, dict):
        raise ValidationError(f"{what} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return body
