"""Schema checks shared by every service function: they raise 422 ``validation_error`` with the field."""

from __future__ import annotations

from typing import Any

from engine.errors import ValidationError


def require(body: dict[str, Any], name: str) -> Any:
    if name not in body or body[name] is None:
        raise ValidationError(f"{name} is required", field=name)
    return body[name]


def string(
    value: Any, name: str, *, min_len: int = 0, max_len: int | None = None, nullable: bool = False
) -> str | None:
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
    return value


def name_string(value: Any, name: str = "name", max_len: int = 255) -> str:
    text = string(value, name, min_len=1, max_len=max_len)
    assert text is not None
    if not text.strip():
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
