"""One parser for the times people type: the same text means the same instant, and the same mistake
reads the same, on every surface (drill and explain ``--at``, a simulation scenario, the console's forms,
a rotation's handoff time)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from console.tui.screens.schedules import parse_local
from engine.clock import VirtualClock
from engine.drill import parse_at
from engine.errors import ValidationError
from engine.rotation import parse_handoff_time
from engine.service import Ctx
from engine.service.demo import seed_demo
from engine.service.scenarios import build_scenario
from engine.timefmt import to_iso
from engine.timeparse import DayBound, parse_clock_time, parse_day_bound, parse_local_instant
from storage.db import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario.toml"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NY = "America/New_York"


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "instant", "dst"),
    [
        ("2026-03-10 09:00", z("2026-03-10T13:00Z"), None),
        ("2026-03-10T09:00", z("2026-03-10T13:00Z"), None),
        ("  2026-03-10 09:00:30 ", z("2026-03-10T13:00:30Z"), None),
        ("2026-03-10", z("2026-03-10T04:00Z"), None),  # a date is midnight in the zone
        ("2026-03-10T09:00Z", z("2026-03-10T09:00Z"), None),
        ("2026-03-10T09:00z", z("2026-03-10T09:00Z"), None),
        ("2026-03-10 09:00+01:00", z("2026-03-10T08:00Z"), None),
        ("2026-03-08 02:30", z("2026-03-08T07:30Z"), "gap"),  # skipped: the offset before the change
        ("2026-11-01 01:30", z("2026-11-01T05:30Z"), "overlap"),  # twice: the first occurrence
    ],
)
def test_one_text_one_instant_on_every_surface(text: str, instant: datetime, dst: str | None) -> None:
    read = parse_local_instant(text, NY)
    assert (read.instant, read.dst) == (instant, dst)
    assert parse_at(text, NY, NOW)[0] == instant
    assert parse_local(text, NY, "start") == to_iso(instant)


def test_words_are_read_against_the_injected_now() -> None:
    assert parse_local_instant("now", NY, now=NOW, words=("now",)).instant == NOW
    assert parse_local_instant("Today", NY, now=NOW, words=("today",)).instant == z("2026-03-01T05:00Z")
    spring = parse_local_instant("spring-forward 02:30", NY, now=NOW, words=("spring-forward",))
    assert (spring.instant, spring.dst) == (z("2026-03-08T07:30Z"), "gap")
    fall = parse_local_instant("fall-back", NY, now=NOW, words=("fall-back",))  # 02:30 unless given
    assert fall.wall == datetime(2026, 11, 1, 2, 30)  # noqa: DTZ001 (a wall time is naive)
    with pytest.raises(match="^must be a local date and time"):
        parse_local_instant("today", NY, now=NOW)  # a word the caller did not allow is just bad text


def test_values_toml_already_parsed_are_read_the_same() -> None:
    assert parse_local_instant(date(2026, 3, 10), NY).instant == z("2026-03-10T04:00Z")
    naive = datetime(2026, 3, 10, 9, 0)  # noqa: DTZ001 (TOML's local date-time)
    assert parse_local_instant(naive, NY).instant == z("2026-03-10T13:00Z")
    assert parse_local_instant(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), NY).instant == z("2026-03-10T09:00Z")


@pytest.mark.parametrize("text", ["9:00", "24:00", "09:60", "0900", "٠٩:٠٠"])
def test_one_message_for_a_bad_clock_time(text: str) -> None:
    predicate = f"must be 'HH:MM' between 00:00 and 23:59, got {text!r}"
    with pytest.raises(ValueError) as caught:
        parse_clock_time(text)
    assert str(caught.value) == predicate
    with pytest.raises(ValueError) as handoff:
        parse_handoff_time(text)
    assert str(handoff.value) == f"handoff time {predicate}"  # the API's message, byte for byte
    with pytest.raises(ValidationError) as drill:
        parse_at(f"spring-forward {text}", NY, NOW)
    assert str(drill.value) == f"--at spring-forward: the time {predicate}"


def test_bad_text_and_range_read_the_same_on_every_surface() -> None:
    with pytest.raises(ValidationError) as drill:
        parse_at("tomorrowish", NY, NOW)
    with pytest.raises(ValidationError) as form:
        parse_local("tomorrowish", NY, "start")
    assert str(drill.value).startswith("--at must be 'now', 'spring-forward 02:30', ")
    assert str(form.value).startswith("the start must be a local date and time such as '2026-03-08 02:30'")
    assert str(drill.value).endswith("; got 'tomorrowish'") and str(form.value).endswith(
        "; got 'tomorrowish'"
    )
    with pytest.raises(ValidationError, match="^the start is out of datetime range; got '0001-01-01 00:00'$"):
        parse_local("0001-01-01 00:00", "Asia/Tokyo", "start")
    with pytest.raises(ValidationError, match="^--at must be between 1970-01-01 and 8999-12-31; got "):
        parse_at("0001-01-01 00:00", "Asia/Tokyo", NOW)


def _scenario(**period: object) -> dict[str, Any]:
    data = tomllib.loads(EXAMPLE.read_text())
    data["period"].update(period)
    return data


@pytest.fixture
def demo(db: Database, clock: VirtualClock) -> Ctx:
    org = seed_demo(db, clock)
    return Ctx(db=db, org_id=org.org_id, clock=clock, via="operator")


@pytest.mark.parametrize(
    ("start", "instant"),
    [
        (" 2026-04-06T09:00z", z("2026-04-06T09:00Z")),  # refused before: the scenario did not strip or
        ("2026-04-06 09:00", z("2026-04-06T13:00Z")),  # take a lower-case z, though --at did
        ("2026-04-06", z("2026-04-06T04:00Z")),
    ],
)
def test_a_scenario_start_reads_like_drill_at(demo: Ctx, start: str, instant: datetime) -> None:
    assert build_scenario(demo, _scenario(start=start)).start == instant
    assert parse_at(start, NY, NOW)[0] == instant


def test_scenario_mistakes_name_the_key_with_the_same_predicates(demo: Ctx) -> None:
    with pytest.raises(ValidationError, match=r"^period\.start: is out of datetime range; got "):
        build_scenario(demo, _scenario(start="9999-12-31T23:00:00"))
    with pytest.raises(ValidationError, match=r"^period\.start: must be 'today', a local date and time"):
        build_scenario(demo, _scenario(start="soon"))
    data = _scenario()
    data["night"] = {"start": "22:00", "end": "7:00"}
    with pytest.raises(ValidationError) as night:
        build_scenario(demo, data)
    assert str(night.value) == "night.end: must be 'HH:MM' between 00:00 and 23:59, got '7:00'"


# -- the incidents list's from/to: a day or an instant -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "end", "at", "whole_day"),
    [
        ("2026-04-07", False, "2026-04-07T00:00:00.000Z", True),
        (
            "2026-04-07",
            True,
            "2026-04-08T00:00:00.000Z",
            True,
        ),  # the day is included: up to the next midnight
        ("2026-12-31", True, "2027-01-01T00:00:00.000Z", True),
        ("9999-12-31", True, "9999-12-31T23:59:59.999Z", True),  # there is no next day
        ("0001-01-01", False, "0001-01-01T00:00:00.000Z", True),
        ("2026-04-07T10:00:00+02:00", True, "2026-04-07T08:00:00.000Z", False),
        ("2026-04-07T10:00:00.0004z", False, "2026-04-07T10:00:00.000Z", False),
    ],
)
def test_day_bound_reads_a_date_or_an_instant(text: str, end: bool, at: str, whole_day: bool) -> None:
    bound = parse_day_bound(text, end=end)
    assert (to_iso(bound.at), bound.whole_day) == (at, whole_day)
    assert isinstance(bound, DayBound)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-04-07T10:00:00", "", None, 20260407])
def test_day_bound_refuses_anything_else_with_one_message(text: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_day_bound(text, end=False)
    assert str(caught.value) == "must be a date (YYYY-MM-DD) or an ISO 8601 datetime"
