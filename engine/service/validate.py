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

import functools
import re
import typing
import unicodedata
from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import msgspec.inspect

from engine.errors import ValidationError
from engine.timefmt import parse_iso

S = TypeVar("S", bound=msgspec.Struct)


@functools.cache
def _refused(multiline: bool) -> re.Pattern[str]:
    """What no field may hold; free text (``multiline``) may also hold tab, line feed and CR LF. Compiled
    on first use: the classes span the surrogates, so each compile maps the basic plane, which a command
    that writes no text need not pay (issue 17)."""
    if multiline:
        return re.compile(
            r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
        )
    return re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


# Letters, digits, punctuation and symbols are visible, except these blank fillers.
_BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_VISIBLE_CATEGORIES = ("L", "N", "P", "S")


def check_characters(text: str, name: str, *, multiline: bool = False) -> str:
    """``text`` unchanged if it holds no refused character (module docstring); else 422 on ``name``,
    naming the first offending code point and its position (0-based)."""
    found = _refused(multiline).search(text)
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


def instant(value: Any, name: str) -> datetime:
    """An ISO 8601 string with a zone (:func:`engine.timefmt.parse_iso`) as an aware datetime; 422 on
    ``name`` for anything else."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be an ISO 8601 datetime string", field=name)
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise ValidationError(f"{name}: {exc}", field=name) from None


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


# -- request models (engine/service/models.py) ------------------------------------------------------


def decode(model: type[S], body: Any, *, what: str = "body", later: Collection[str] = ()) -> S:
    """``body`` (a JSON object as a dict) checked against the msgspec Struct ``model``, returned as one.

    Unknown fields are refused first (422 naming them all, sorted); then each field in the model's
    declared order: a required field that is absent (or null, unless the model gives the field its own
    ``required`` message) is "… is required"; a present value gets the message of its declared type
    and limits, exactly as :func:`string`, :func:`name_string`, :func:`integer` and :func:`enum` word
    them. Absent optional fields are ``msgspec.UNSET``. Fields named in ``later`` are only checked for
    presence and kept raw: the service checks them with :func:`decode_field` once the parent object is
    known to exist (its 404 comes first). Raises :class:`ValidationError`.
    """
    info = _struct_info(model)
    allowed = {f.encode_name for f in info.fields}
    if info.tag_field is not None:
        allowed.add(info.tag_field)
    only_fields(body, allowed, what)
    prefix = "" if what == "body" else what + "."
    values: dict[str, Any] = {}
    for f in info.fields:
        label = prefix + f.encode_name
        _, _, extra = _unwrap(f.type)
        present = f.encode_name in body
        value = body.get(f.encode_name)
        if f.required and (not present or (value is None and "required" not in extra)):
            if not present and "required" in extra:
                raise ValidationError(extra["required"], field=label)
            if not _is_literal(f.type):
                raise ValidationError(f"{label} is required", field=label)
        if not present and not f.required:
            continue  # the Struct's default: UNSET
        values[f.name] = (
            value if f.name in later else _check(f.type, value, label, _choices(model).get(f.name))
        )
    return model(**values)


def decode_field(model: type[msgspec.Struct], name: str, value: Any) -> Any:
    """One field of ``model`` (by attribute name) checked as :func:`decode` checks it; raises 422."""
    info = _struct_info(model)
    f = next(f for f in info.fields if f.name == name)
    return _check(f.type, value, f.encode_name, _choices(model).get(name))


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values of the ``Literal`` inside a field's annotation, in declared order (msgspec's
    inspection sorts them; the reference's messages list them as declared)."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    for arg in typing.get_args(annotation):
        found = _literal_choices(arg)
        if found is not None:
            return found
    return None


@functools.cache
def _choices(model: type[msgspec.Struct]) -> dict[str, tuple[Any, ...]]:
    hints = typing.get_type_hints(model, include_extras=True)
    found = {name: _literal_choices(hints[name]) for name in model.__struct_fields__}
    return {name: values for name, values in found.items() if values is not None}


@functools.cache
def _struct_info(model: type[msgspec.Struct]) -> msgspec.inspect.StructType:
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    return info


def _unwrap(t: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, bool, dict[str, Any]]:
    """(the type without null and UNSET, whether null is allowed, the field's ``Meta.extra``)."""
    nullable = False
    extra: dict[str, Any] = {}
    if isinstance(t, msgspec.inspect.Metadata):
        extra.update(t.extra or {})
        t = t.type
    if isinstance(t, msgspec.inspect.UnionType):
        rest = [m for m in t.types if not isinstance(m, msgspec.inspect.NoneType)]
        nullable = any(isinstance(m, msgspec.inspect.NoneType) for m in t.types)
        if len(rest) == 1:
            t = rest[0]
            if isinstance(t, msgspec.inspect.Metadata):
                extra.update(t.extra or {})
                t = t.type
        else:
            t = msgspec.inspect.UnionType(tuple(rest))
    return t, nullable, extra


def _is_literal(t: msgspec.inspect.Type) -> bool:
    return isinstance(_unwrap(t)[0], msgspec.inspect.LiteralType)


def _check(t: msgspec.inspect.Type, value: Any, label: str, choices: tuple[Any, ...] | None = None) -> Any:
    base, nullable, extra = _unwrap(t)
    if value is None and nullable:
        return None
    invalid = extra.get("invalid")
    if isinstance(base, msgspec.inspect.LiteralType):
        return enum(value, label, choices or tuple(base.values))
    if isinstance(base, msgspec.inspect.IntType):
        return integer(value, label, minimum=base.ge, maximum=base.le)
    if isinstance(base, msgspec.inspect.StrType):
        if invalid is not None:
            if not isinstance(value, str) or len(value) < (base.min_length or 0):
                raise ValidationError(f"{label} {invalid}", field=label)
            return value
        kind = extra.get("text", "line")
        if kind == "name":
            return name_string(value, label, max_len=base.max_length or 255)
        if kind == "person":
            return person_name(value, label, max_len=base.max_length or 255)
        return string(
            value,
            label,
            min_len=base.min_length or 0,
            max_len=base.max_length,
            nullable=nullable,
            multiline=kind == "multiline",
        )
    if isinstance(base, msgspec.inspect.BoolType):
        if not isinstance(value, bool):
            raise ValidationError(f"{label} must be a boolean", field=label)
        return value
    if isinstance(base, msgspec.inspect.DateTimeType):
        return instant(value, label)
    if isinstance(base, msgspec.inspect.BoolType):
        if not isinstance(value, bool):
            raise ValidationError(f"{label} must be a boolean", field=label)
        return value
    if isinstance(base, msgspec.inspect.DictType):
        return _string_map(base, value, label)
    if isinstance(base, msgspec.inspect.ListType) and isinstance(
        _unwrap(base.item_type)[0], msgspec.inspect.StructType
    ):
        if not isinstance(value, list):
            raise ValidationError(f"{label} must be an array", field=label)
        if base.max_length is not None and len(value) > base.max_length:
            raise ValidationError(f"{label} must have at most {base.max_length} items", field=label)
        if len(value) < (base.min_length or 0):
            raise ValidationError(f"{label} must have at least {base.min_length} items", field=label)
        item_type = _unwrap(base.item_type)[0]
        return [_check_struct(item_type, v, f"{label}[{i}]", None) for i, v in enumerate(value)]
    if isinstance(base, msgspec.inspect.ListType) and invalid is None:
        return string_list(value, label, min_items=base.min_length or 0)
    if isinstance(base, msgspec.inspect.ListType):
        item = _unwrap(base.item_type)[0]
        min_item = item.min_length or 0 if isinstance(item, msgspec.inspect.StrType) else 0
        if (
            not isinstance(value, list)
            or len(value) < (base.min_length or 0)
            or not all(isinstance(v, str) and len(v) >= min_item for v in value)
        ):
            raise ValidationError(f"{label} {invalid}", field=label)
        return list(value)
    if isinstance(base, (msgspec.inspect.StructType, msgspec.inspect.UnionType)):
        return _check_struct(base, value, label, invalid)
    raise TypeError(f"no rule for {label}: {base!r}")  # a model declared a type decode does not know


def _string_map(t: msgspec.inspect.DictType, value: Any, label: str) -> dict[str, Any]:
    """A JSON object whose values are checked against the dict's value type (keys: one-line strings)."""
    if not isinstance(value, dict):
        raise ValidationError(f"{label} must be a JSON object", field=label)
    if t.max_length is not None and len(value) > t.max_length:
        raise ValidationError(f"{label} must have at most {t.max_length} entries", field=label)
    out: dict[str, Any] = {}
    for key, item in value.items():
        key_label = f"{label}.{key}"
        string(key, key_label, min_len=1, max_len=255)
        out[key] = _check(t.value_type, item, key_label)
    return out


def _check_struct(t: msgspec.inspect.Type, value: Any, label: str, invalid: str | None) -> Any:
    """A nested object: one Struct, or a union of Structs told apart by their tag field."""
    members = t.types if isinstance(t, msgspec.inspect.UnionType) else (t,)
    if not isinstance(value, dict):
        raise ValidationError(f"{label} {invalid or 'must be a JSON object'}", field=label)
    structs = [m for m in members if isinstance(m, msgspec.inspect.StructType)]
    tag_field = structs[0].tag_field
    if tag_field is None:
        return decode(structs[0].cls, value, what=label)
    by_tag = {m.tag: m.cls for m in structs}
    tag = value.get(tag_field)
    if not isinstance(tag, str) or tag not in by_tag:
        choices = " or ".join(f'"{name}"' for name in by_tag)
        raise ValidationError(f"{label}.{tag_field} must be {choices}", field=f"{label}.{tag_field}")
    return decode(by_tag[tag], value, what=label)
