"""Times people type, read in one place: a zone name, a clock time ``HH:MM``, a local date and time in a
zone, an ISO 8601 instant, and the words ``now``, ``today``, ``spring-forward``, ``fall-back``,
``next-dst``.

Pure: nothing here reads the clock (``now`` is passed in) or does I/O. Every parser raises a plain
``ValueError`` (its type name is recorded in timelines: a schedule that cannot be resolved) whose message
is a predicate without a subject (``must be 'HH:MM' between 00:00 and 23:59, got '9:00'``); the caller
puts the name people typed in front (``handoff time``, ``--at``, ``period.start:``), so the same mistake
reads the same on every surface.

A wall-clock time the clocks skip (spring forward) or show twice (fall back) is read like a handoff
(docs/TIME_RULES.md rules 2 and 3): with the offset in force before the change, i.e. its first
occurrence (``fold=0``); :class:`LocalInstant` says which case applied so the caller can tell people.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from msgspec import Struct

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "DST_WORDS",
    "DayBound",
    "LocalInstant",
    "next_dst_change",
    "parse_clock_time",
    "parse_day_bound",
    "parse_iso",
    "parse_local_instant",
    "validate_timezone",
]

Word = Literal["now", "today", "spring-forward", "fall-back", "next-dst"]

DST_WORDS: dict[str, Literal["gap", "overlap"] | None] = {
    "spring-forward": "gap",
    "fall-back": "overlap",
    "next-dst": None,
}
"""``<word> HH:MM`` is that wall-clock time on the date of the next such change (None: either kind)."""

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)
_TZ_CACHE: dict[str, ZoneInfo] = {}


# ------------------------------------------------------------------------------------------ zones, clocks


def validate_timezone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``.

    Only region names ("Europe/London") and "UTC" pass: zoneinfo also knows legacy abbreviations such as
    "EST" or "MST7MDT", which look like they follow DST rules people expect but do not. Raises
    ``ValueError`` with a whole sentence (it names the zone).
    """
    cached = _TZ_CACHE.get(name) if isinstance(name, str) else None
    if cached is not None:
        return cached
    if not isinstance(name, str) or not name:
        raise ValueError("timezone must be a non-empty IANA name such as 'Europe/London'")
    if name != "UTC" and "/" not in name:
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA region name such as 'America/New_York' or 'UTC', "
            "not an abbreviation"
        )
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # on first use: zoneinfo loads sysconfig

    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {name!r}: not in the IANA time zone database") from None
    _TZ_CACHE[name] = tz
    return tz


def parse_clock_time(text: object) -> time:
    """``"HH:MM"`` (24 h, two digits each) as a naive wall-clock time; anything looser is refused so a
    typo like "9:00" or "24:00" cannot silently mean something else. Raises :class:`ValueError`."""
    if not isinstance(text, str):
        raise ValueError("must be a string 'HH:MM'")
    m = _HHMM.fullmatch(text)
    if m is None:
        raise ValueError(f"must be 'HH:MM' between 00:00 and 23:59, got {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


# ------------------------------------------------------------------------------------------ instants


def _fromisoformat(text: str) -> datetime:
    """``datetime.fromisoformat`` that also takes a lower-case ``z``; naive if the text has no zone."""
    raw = text.strip()
    if raw.endswith(("z", "Z")):
        raw = raw[:-1] + "+00:00"
    return datetime.fromisoformat(raw)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 instant (the wire form). It must carry a zone (``Z`` or an offset); the result
    is UTC.

    Raises ValueError with a readable message otherwise.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("expected an ISO 8601 datetime string")
    try:
        dt = _fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {text!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"datetime needs a timezone (Z or an offset): {text!r}")
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"datetime out of range: {text!r}") from None


_DAY_OR_INSTANT = "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"
_LAST_INSTANT = datetime(
    9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
)  # the day after 9999-12-31 does not exist


class DayBound(Struct, frozen=True):
    """One end of a date range people type (the incidents list's ``from``/``to``): ``at`` is a UTC
    instant; ``whole_day`` says the text was a bare date, so an ``end`` bound is exclusive (it is the
    start of the next day) while an instant typed as the end is inclusive."""

    at: datetime
    whole_day: bool


def parse_day_bound(text: object, *, end: bool) -> DayBound:
    """A date (``2025-01-01``: that day in UTC, whole) or a full ISO 8601 instant with a zone.

    A date as the start bound is its midnight; as the ``end`` bound, the next day's midnight (the day is
    included), or the last millisecond of 9999-12-31. Raises ``ValueError("must be a date (YYYY-MM-DD) or
    an ISO 8601 datetime")`` for anything else (a non-string included).
    """
    if not isinstance(text, str):
        raise ValueError(_DAY_OR_INSTANT)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            return DayBound(parse_iso(text), whole_day=False)
        except ValueError:
            raise ValueError(_DAY_OR_INSTANT) from None
    if end:
        if day == date.max:
            return DayBound(_LAST_INSTANT, whole_day=True)
        day += timedelta(days=1)
    return DayBound(datetime(day.year, day.month, day.day, tzinfo=UTC), whole_day=True)


class LocalInstant(Struct, frozen=True):
    """What a typed time means.

    ``instant`` is aware UTC. ``wall`` is the naive wall-clock time read in the zone, or None when the
    text named an instant by itself (an offset, ``Z``, ``now``). ``dst`` is "gap" when the clocks skip
    ``wall`` (``instant`` then uses the offset before the change) and "overlap" when they show it twice
    (``instant`` is the first occurrence).
    """

    instant: datetime
    wall: datetime | None = None
    dst: Literal["gap", "overlap"] | None = None


def _word_forms(words: Collection[str]) -> list[str]:
    return [f"'{w} 02:30'" if w in DST_WORDS else f"'{w}'" for w in words]


def _format_error(text: object, zone: str, words: Collection[str]) -> ValueError:
    forms = [
        *_word_forms(words),
        f"a local date and time such as '2026-03-08 02:30' (in {zone})",
        "a date such as 2026-03-08",
        "an ISO 8601 instant such as 2026-03-08T07:30Z",
    ]
    return ValueError(f"must be {', '.join(forms[:-1])} or {forms[-1]}; got {text!r}")


def _range_error(text: object, earliest: datetime | None, latest: datetime | None) -> ValueError:
    if earliest is None or latest is None:
        return ValueError(f"is out of datetime range; got {text!r}")
    last_day = latest - timedelta(days=1)
    return ValueError(f"must be between {earliest:%Y-%m-%d} and {last_day:%Y-%m-%d}; got {text!r}")


def parse_local_instant(
    text: str | date | datetime,
    zone: str,
    *,
    now: datetime | None = None,
    words: Collection[Word] = (),
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> LocalInstant:
    """An instant people typed, reading wall-clock forms in ``zone`` (an IANA name).

    Accepted: a local date and time without an offset (``2026-03-08 02:30``, ``2026-03-08T02:30``) read
    in ``zone``; a bare date (midnight in ``zone``); an ISO 8601 instant with ``Z`` or an offset, taken
    as is; already-parsed ``date``/``datetime`` values (TOML's), read the same way; and, when listed in
    ``words`` (which then needs ``now``): ``now``, ``today`` (midnight at the start of today in
    ``zone``), ``spring-forward HH:MM``, ``fall-back HH:MM``, ``next-dst HH:MM`` (that wall-clock time,
    02:30 if omitted, on the date of the next such change in ``zone``).

    With ``earliest`` and ``latest`` the instant must lie in [earliest, latest). Raises
    :class:`ValueError` (no subject: the caller names the field), or ``ValueError`` for a bad zone.
    """
    if isinstance(text, datetime):
        dt = text
    elif isinstance(text, date):
        dt = datetime.combine(text, time(0, 0))
    elif isinstance(text, str):
        read = _read_text(text, zone, now, words)
        if isinstance(read, LocalInstant):
            return read
        dt = read
    else:
        raise _format_error(text, zone, words)
    if earliest is not None and latest is not None:
        slack = timedelta(days=2)  # far outside: converting it could overflow datetime
        if not earliest - slack < dt.replace(tzinfo=UTC) < latest + slack:
            raise _range_error(text, earliest, latest)
    tz = validate_timezone(zone) if dt.tzinfo is None else None
    local = dt if tz is None else dt.replace(tzinfo=tz, fold=0)
    try:
        instant = local.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise _range_error(text, earliest, latest) from None
    if earliest is not None and latest is not None and not earliest <= instant < latest:
        raise _range_error(text, earliest, latest)
    if tz is None:
        return LocalInstant(instant)
    wall = dt.replace(tzinfo=None)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        return LocalInstant(instant, wall, "gap")
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        return LocalInstant(instant, wall, "overlap")
    return LocalInstant(instant, wall)


def _read_text(text: str, zone: str, now: datetime | None, words: Collection[str]) -> datetime | LocalInstant:
    """The text as a datetime (naive: wall clock in ``zone``), or the answer itself for ``now``."""
    raw = text.strip()
    word, _, rest = raw.partition(" ")
    word = word.lower()
    if word in words and now is not None:
        if word == "now" and not rest:
            return LocalInstant(now.astimezone(UTC))
        if word == "today" and not rest:
            return datetime.combine(now.astimezone(validate_timezone(zone)).date(), time(0, 0))
        if word in DST_WORDS:
            day = next_dst_change(zone, now, DST_WORDS[word])
            if day is None:
                raise ValueError(f"cannot be {word}: {zone} has no daylight-saving changes")
            try:
                hhmm = parse_clock_time(rest.strip() or "02:30")
            except ValueError as exc:
                raise ValueError(f"{word}: the time {exc}") from None
            return datetime.combine(day, hhmm)
    try:
        return _fromisoformat(raw)
    except ValueError:
        raise _format_error(text, zone, words) from None


def next_dst_change(zone: str, now: datetime, kind: str | None = None) -> date | None:
    """The local date of the next DST change in ``zone`` after ``now`` (``kind`` "gap" = spring forward,
    "overlap" = fall back, None = either), looking up to two years ahead."""
    tz = validate_timezone(zone)
    day = now.astimezone(tz).date()
    for _ in range(731):
        day += timedelta(days=1)
        before = datetime.combine(day, time(0, 0), tzinfo=tz).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz).utcoffset()
        if before is None or after is None or before == after:
            continue
        change = "gap" if after > before else "overlap"
        if kind is None or kind == change:
            return day
    return None
