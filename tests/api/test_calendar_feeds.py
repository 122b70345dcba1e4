"""Calendar feeds: the secret URL ``oncall serve`` answers (a real server, a real client, no API key) and
``oncall schedules ical`` / ``feed create|list|revoke`` through the entry point. The feed is parsed back
with ``icalendar`` and compared, event by event, with the engine's shifts across both DST changes."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from engine.service import orgs, schedules
from tests.api.conftest import Live
from tests.conftest import T0
from tests.helpers import run_oncall

START = T0 - timedelta(days=30)
DAYS = 400  # from T0 (2026-04-07): past both changes of each zone's clocks
CASES = {
    # zone: (handoff time, the local day an override covers: a day with a clock change)
    "America/New_York": ("09:00", date(2026, 11, 1)),  # falls back: a 25-hour day
    "Australia/Sydney": ("08:00", date(2026, 10, 4)),  # springs forward: a 23-hour day
}


def parse(body: bytes) -> list[dict[str, Any]]:
    cal = Calendar.from_ical(body)
    return [
        {
            "uid": str(e["UID"]),
            "start": e.decoded("DTSTART"),
            "end": e.decoded("DTEND"),
            "summary": str(e["SUMMARY"]),
        }
        for e in cal.walk("VEVENT")
    ]


def setup_schedule(live: Live, zone: str) -> tuple[str, dict[str, str]]:
    """A daily rotation of three people in ``zone`` and a one-day override on a DST day; the schedule's id
    and the people's ids by first name."""
    handoff, day = CASES[zone]
    ctx = live.ctx()
    people = {
        n: orgs.add_user(ctx, email=f"{n}@example.com", first_name=n.title())["id"]
        for n in ("ann", "ben", "cai")
    }
    sid = schedules.create_schedule(ctx, {"name": f"Rota {zone}", "timezone": zone})["id"]
    schedules.add_rotation_layer(
        ctx,
        sid,
        {
            "name": "Daily",
            "rotationType": "daily",
            "handoffTime": handoff,
            "effectiveFrom": START.isoformat(),
            "participantIds": list(people.values()),
        },
    )
    tz = ZoneInfo(zone)
    schedules.add_override(
        ctx,
        sid,
        {
            "userId": people["cai"],
            "start": datetime.combine(day, time(0), tzinfo=tz).isoformat(),
            "end": datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).isoformat(),
        },
    )
    ctx.db.close()
    return sid, people


def expected(live: Live, sid: str, user_id: str | None = None) -> list[tuple[datetime, datetime, str]]:
    """Every piece of on-call time the engine's shifts function gives over the feed's window."""
    ctx = live.ctx()
    cover = schedules.coverage(ctx, sid, START, T0 + timedelta(days=DAYS))
    ctx.db.close()
    out = [
        (s.start, s.end, s.user_id)
        for layer in cover.layers
        for s in layer.shifts
        if s.end > T0 - timedelta(days=7) and (user_id is None or s.user_id == user_id)
    ]
    return sorted(out)


def make_feed(live: Live, sid: str, *extra: str) -> str:
    out = run_oncall(live.db_path, "schedules", "feed", "create", sid, "--json", *extra).stdout
    feed = json.loads(out)
    assert feed["url"].endswith(f"/v1/oncall/schedules/{sid}/ical?token={feed['token']}")
    return str(feed["path"])


@pytest.mark.parametrize("zone", sorted(CASES))
def test_the_feed_is_the_shifts_function_across_both_dst_changes(live: Live, zone: str) -> None:
    sid, people = setup_schedule(live, zone)
    names = {uid: n.title() for n, uid in people.items()}
    path = make_feed(live, sid)
    resp = httpx.get(f"{live.url}{path}&days={DAYS}")  # no Authorization header: the token is the key
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/calendar")
    events = parse(resp.content)
    got = sorted((e["start"], e["end"], e["summary"].split(" on call")[0]) for e in events)
    assert got == [(a, b, names[u]) for a, b, u in expected(live, sid)]
    assert len({e["uid"] for e in events}) == len(events)

    tz = ZoneInfo(zone)
    handoff = int(CASES[zone][0][:2])
    rotation = [e for e in events if "(override)" not in e["summary"]]
    offsets = {e["start"].astimezone(tz).utcoffset() for e in rotation}
    assert len(offsets) == 2  # shifts on both sides of the clock changes
    changes = [
        d
        for d in (T0 + timedelta(days=n) for n in range(DAYS))
        if d.astimezone(tz).utcoffset() != (d + timedelta(days=1)).astimezone(tz).utcoffset()
    ]
    assert len(changes) >= 2
    # Every handoff is at the configured wall-clock time, whatever the offset (the override's edges and
    # the rotation's first day aside).
    override_edges = {e["end"] for e in events if "(override)" in e["summary"]}
    override_edges |= {e["start"] for e in events if "(override)" in e["summary"]}
    for e in rotation:
        if e["start"] not in override_edges and e["start"] > START:
            assert e["start"].astimezone(tz).hour == handoff, e
    (override,) = [e for e in events if "(override)" in e["summary"]]
    assert override["end"] - override["start"] == timedelta(hours=25 if zone == "America/New_York" else 23)


def test_a_persons_feed_uids_are_stable_and_revoked_or_wrong_tokens_are_404(live: Live) -> None:
    sid, people = setup_schedule(live, "America/New_York")
    path = make_feed(live, sid, "--user", "ben@example.com")
    first = parse(httpx.get(live.url + path).content)
    want = [(a, b) for a, b, _ in expected(live, sid, people["ben"]) if a < T0 + timedelta(days=90)]
    assert sorted((e["start"], e["end"]) for e in first) == want
    assert all(e["summary"].startswith("On call") for e in first)

    live.clock.advance(timedelta(hours=30))
    later = {(e["start"], e["end"]): e["uid"] for e in parse(httpx.get(live.url + path).content)}
    common = [e for e in first if (e["start"], e["end"]) in later]
    assert len(common) >= len(first) - 2
    assert all(later[(e["start"], e["end"])] == e["uid"] for e in common)  # updated, never duplicated

    token = path.split("token=")[1]
    other = schedules.create_schedule(live.ctx(), {"name": "Other", "timezone": "UTC"})["id"]
    for bad in (
        path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B")),
        path.split("?")[0],
        path.replace(sid, other),
    ):
        resp = httpx.get(live.url + bad)
        assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    assert httpx.get(live.url + path + "&days=9999").status_code == 422

    listed = json.loads(run_oncall(live.db_path, "schedules", "feed", "list", sid, "--json").stdout)
    assert [f["userId"] for f in listed] == [people["ben"]] and "token" not in listed[0]
    assert "revoked 0 feed(s)" in run_oncall(live.db_path, "schedules", "feed", "revoke", sid).stdout
    assert httpx.get(live.url + path).status_code == 200  # only the whole-schedule feeds were revoked
    run_oncall(live.db_path, "schedules", "feed", "revoke", sid, "--user", "ben@example.com")
    assert httpx.get(live.url + path).status_code == 404


def test_schedules_ical_prints_the_feed_and_names_a_bad_schedule_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run_oncall(db, "demo", "--no-console")
    text = run_oncall(db, "schedules", "ical", "Platform Secondary", "--days", "14").stdout
    events = parse(text.encode())
    assert any(e["summary"] == "Grace Ito on call (override): Platform Secondary / Backup" for e in events)
    assert all(e["start"].tzinfo is not None and e["start"].utcoffset() == timedelta(0) for e in events)
    mine = parse(
        run_oncall(db, "schedules", "ical", "Platform Primary", "--user", "bob@example.com").stdout.encode()
    )
    assert mine and all(e["summary"] == "On call: Platform Primary / Primary" for e in mine)
    as_json = json.loads(
        run_oncall(db, "schedules", "ical", "Platform Primary", "--user", "bob@example.com", "--json").stdout
    )
    # iCalendar times are whole seconds; the JSON keeps milliseconds (a shift cut by the window's end, which
    # is the command's now + days, ends at that instant's milliseconds).
    assert [(e["start"][:19], e["end"][:19]) for e in as_json] == [
        (e["start"].strftime("%Y-%m-%dT%H:%M:%S"), e["end"].strftime("%Y-%m-%dT%H:%M:%S")) for e in mine
    ]
    assert {e["uid"] for e in as_json} == {e["uid"] for e in mine}
    assert "NAME" in run_oncall(db, "schedules").stdout  # the list is still the group's own answer
    bad = run_oncall(db, "schedules", "ical", "Nope", ok=False)
    assert bad.returncode == 2 and bad.stderr == "error: schedule 'Nope' not found\n"
    assert run_oncall(db, "schedules", "ical", "Platform Primary", "--days", "0", ok=False).returncode == 2
