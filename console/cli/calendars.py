"""Calendar feeds from the command line: ``oncall schedules ical`` prints one, ``oncall schedules feed
create|list|revoke`` manages the secret URLs ``oncall serve`` answers (engine/service/calendars.py)."""

from __future__ import annotations

import click

from console.cli.main import AsciiIntRange, State, echo, echo_json, handle_errors, pass_state
from engine.service import calendars

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@click.command("ical")
@click.argument("schedule")
@click.option("--user", "user", default=None, help="Only this person's shifts (id or email; 'me': you).")
@click.option(
    "--days",
    type=AsciiIntRange(1, calendars.MAX_DAYS),
    default=calendars.DEFAULT_DAYS,
    show_default=True,
    help="How far ahead (the last week is included too).",
)
@click.option("--json", "as_json", is_flag=True, help="The events as JSON instead of iCalendar.")
@pass_state
@handle_errors
def ical_command(state: State, schedule: str, user: str | None, days: int, as_json: bool) -> None:
    """Print SCHEDULE's on-call shifts (id or name) as iCalendar (RFC 5545), overrides included.

    Times are UTC instants; a calendar app shows them in its own zone."""
    ctx = state.ctx()
    sid, uid = calendars.resolve_names(ctx, schedule, ctx.actor_user_id if user == "me" else user)
    if as_json:
        _, items = calendars.feed_events(ctx, sid, user_id=uid, days=days)
        echo_json([calendars.event_wire(e) for e in items])
        return
    document = calendars.ical(ctx, sid, user_id=uid, days=days)
    for line in document.decode("utf-8").splitlines():  # each line escaped like all our output
        echo(line)


@click.group("feed")
def feed_group() -> None:
    """Secret calendar URLs a calendar app subscribes to (served by `oncall serve`)."""


@feed_group.command("create")
@click.argument("schedule")
@click.option("--user", "user", default=None, help="Only this person's shifts (id or email; 'me': you).")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True, help="Where `oncall serve` answers.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def feed_create(state: State, schedule: str, user: str | None, base_url: str, as_json: bool) -> None:
    """Make a feed URL of SCHEDULE (or of one person's shifts on it). The URL is shown once: its token is
    the only key, kept only as a hash. Revoke it with `oncall schedules feed revoke`."""
    ctx = state.ctx()
    token, feed = calendars.create_feed(ctx, schedule, user=ctx.actor_user_id if user == "me" else user)
    url = base_url.rstrip("/") + feed["path"]
    if as_json:
        echo_json({**feed, "token": token, "url": url})
        return
    echo(f"feed {feed['id']} created; subscribe to this URL (shown once):")
    echo(url)


@feed_group.command("list")
@click.argument("schedule")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def feed_list(state: State, schedule: str, as_json: bool) -> None:
    """SCHEDULE's feeds, revoked ones included (their URLs cannot be shown again)."""
    feeds = calendars.list_feeds(state.ctx(), schedule)
    if as_json:
        echo_json(feeds)
        return
    if not feeds:
        echo("(no feeds)")
    for f in feeds:
        state_text = f"revoked {f['revokedAt']}" if f["revokedAt"] else "live"
        echo(f"{f['id']}  {f['userId'] or 'whole schedule'}  created {f['createdAt']}  {state_text}")


@feed_group.command("revoke")
@click.argument("schedule")
@click.option(
    "--user",
    "user",
    default=None,
    help="That person's feeds (id, email or 'me'; else the whole-schedule ones).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def feed_revoke(state: State, schedule: str, user: str | None, as_json: bool) -> None:
    """Revoke SCHEDULE's live feeds (of --user, or the whole-schedule ones): their URLs answer 404."""
    ctx = state.ctx()
    count = calendars.revoke_feeds(ctx, schedule, user=ctx.actor_user_id if user == "me" else user)
    if as_json:
        echo_json({"revoked": count})
        return
    echo(f"revoked {count} feed(s)")
