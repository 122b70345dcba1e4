"""``oncall sync …``: link an organisation to Scaling, pull, push the outbox, retry, discard or adopt a change.

The API key is asked for without echo (or read from stdin with ``--key-stdin``, or taken from
``SCALING_API_KEY``, which always wins). It is stored in a file only its owner can read, or the OS keyring,
and only ever shown masked (``scl_live_…abcd``): never in output, ``--json``, errors or the database.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from console.cli.main import State, echo, echo_json, fail, handle_errors, pass_state
from engine.errors import DomainError
from engine.service import orgs
from engine.service.sync import (
    RemoteError,
    ScalingClient,
    Secret,
    Unreachable,
    adopt_change,
    credentials,
    discard_change,
    link,
    normalise_base_url,
    pull,
    push,
    retry_change,
)


@click.group("sync")
def sync_group() -> None:
    """Keep this organisation in sync with a Scaling organisation (see docs/SYNC.md)."""


def _org_id(state: State) -> str:
    return orgs.find_org(state.db(), state.org)


def _client(state: State, org_id: str) -> ScalingClient:
    return link.make_client(state.db(), org_id)


def _read_key(key_stdin: bool) -> tuple[Secret, bool]:
    """The key to log in with, and whether it should be stored (not when it comes from the environment)."""
    if key_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            fail("no API key on stdin", 2)
        return Secret(value), True
    env = os.environ.get(credentials.ENV_KEY, "").strip()
    if env:
        return Secret(env), False
    value = click.prompt("Scaling API key (input hidden)", hide_input=True, err=True).strip()
    if not value:
        fail("no API key given", 2)
    return Secret(value), True


def _first_admin_email(users: list[dict[str, Any]]) -> str | None:
    ordered = [u for u in users if u.get("role") == "org:admin"] + users
    for u in ordered:
        if isinstance(u.get("email"), str) and u["email"]:
            return str(u["email"])
    return None


@sync_group.command("login")
@click.option(
    "--url", "base_url", default=None, help=f"Base URL of the API (default {credentials.DEFAULT_BASE_URL})."
)
@click.option("--key-stdin", is_flag=True, help="Read the API key from stdin instead of asking for it.")
@click.option(
    "--org-name", default="Scaling", show_default=True, help="Name of the local organisation, if none exists."
)
@click.option("--email", default=None, help="Your email, when a local organisation must be created.")
@click.option("--no-verify", is_flag=True, help="Do not check the key against the remote now.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_login(
    state: State,
    base_url: str | None,
    key_stdin: bool,
    org_name: str,
    email: str | None,
    no_verify: bool,
    as_json: bool,
) -> None:
    """Link this organisation to Scaling and store the API key (masked everywhere as scl_live_…abcd).

    SCALING_API_KEY in the environment takes precedence over a stored key. In an empty database a local
    organisation is created for the remote one (and the database file, if there is none yet).
    """
    state.create = True
    db = state.db()
    org_id: str | None
    try:
        org_id = orgs.find_org(db, state.org)
    except DomainError as exc:
        if exc.code != "no_organisation":
            raise
        org_id = None
    if base_url is None and org_id is not None:
        cfg = link.config(db, org_id)
        base_url = cfg["baseUrl"] if cfg else None
    url = normalise_base_url(base_url)
    key, store = _read_key(key_stdin)
    verified = False
    users: list[dict[str, Any]] = []
    warning = None
    if not no_verify or org_id is None:
        with ScalingClient(url, key, max_retries=1) as client:
            try:
                users = client.list_users()
                verified = True
            except RemoteError as exc:
                if exc.auth_problem:
                    fail(f"the remote refused the key {key.masked}: {exc.describe()}")
                warning = f"could not verify the key: {exc.describe()}"
            except Unreachable as exc:
                warning = f"could not verify the key now: {exc.message}"
    if org_id is None:
        admin_email = email or _first_admin_email(users)
        if admin_email is None:
            fail("no local organisation yet: pass --email (your email) to create one", 2)
        created = orgs.create_org(db, org_name, admin_email, clock=state.clock)
        org_id = str(created.org["id"])
    source = credentials.store_key(org_id, key.reveal()) if store else "env"
    cfg = link.link(db, org_id, url, state.clock)
    info = {
        "orgId": org_id,
        "baseUrl": cfg["baseUrl"],
        "key": key.masked,
        "keySource": source,
        "verified": verified,
        "warning": warning,
    }
    if as_json:
        echo_json(info)
        return
    where = {
        "file": f"in {credentials.credentials_path()} (mode 0600)",
        "keyring": "in the OS keyring",
        "env": f"not stored: {credentials.ENV_KEY} is used",
    }[source]
    echo(f"Linked to {cfg['baseUrl']} with key {key.masked} ({where}).")
    if verified:
        echo(f"The key works: {len(users)} people in the remote organisation.")
    if warning:
        echo(f"warning: {warning}", err=True)
    echo("Next: `oncall sync pull`, or `oncall --sync` to keep the console in sync.")


@sync_group.command("logout")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_logout(state: State, as_json: bool) -> None:
    """Forget the stored key and unlink. Pulled data and waiting changes stay.

    --json prints ``{"loggedOut": true, "storedKeyRemoved": bool}``."""
    org_id = _org_id(state)
    removed = credentials.delete_key(org_id)
    link.unlink(state.db(), org_id)
    if as_json:
        echo_json({"loggedOut": True, "storedKeyRemoved": removed})
    else:
        echo("Logged out" + (" (stored key removed)." if removed else "."))
    if os.environ.get(credentials.ENV_KEY):
        echo(f"note: {credentials.ENV_KEY} is still set in your environment.", err=True)


def _describe_change(c: dict[str, Any]) -> str:
    err = c.get("error") or {}
    detail = ""
    if err:
        status = f"{err['statusCode']} " if err.get("statusCode") else ""
        msg = err.get("message") or ""
        detail = f"  {status}{err.get('code') or ''}{': ' + msg if msg else ''}"
        if err.get("requestId"):
            detail += f" (request {err['requestId']})"
    line = f"{c['id']}  {c['status']:<9} {c['kind']:<20} {c['objectId']}{detail}"
    if c.get("status") == "uncertain":
        found = c.get("candidates") or []
        line += "\n      " + (
            "candidates on the remote: "
            + ", ".join(
                f"{k['id']} (by {k.get('createdBy') or '?'} at {k.get('createdAt') or '?'})" for k in found
            )
            if found
            else "no candidate on the remote"
        )
    return line


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_status(state: State, as_json: bool) -> None:
    """The link, the key (masked), the last pull, and every change waiting or failed."""
    info = link.status(state.db(), _org_id(state))
    if as_json:
        echo_json(info)
        return
    if not info["linked"]:
        echo("Not linked. Run `oncall sync login`.")
    else:
        echo(f"Linked to {info['baseUrl']}")
        echo(
            f"Key: {info['key'] or 'none (run oncall sync login)'}"
            + (f" (from {info['keySource']})" if info["keySource"] else "")
        )
        echo(f"Last pull: {info['lastPullAt'] or 'never'}")
        if info["lastPullError"]:
            echo(f"Last pull error: {info['lastPullError']}")
        if info["lastPushError"]:
            echo(f"Last push error: {info['lastPushError']}")
    echo(
        f"{info['waiting']} change(s) waiting, {len(info['failed'])} failed, {len(info['uncertain'])} uncertain"
    )
    for c in info["changes"]:
        echo("  " + _describe_change(c))


@sync_group.command("pull")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_pull(state: State, as_json: bool) -> None:
    """Pull policies, schedules, people and incidents from the remote once."""
    org_id = _org_id(state)
    with _client(state, org_id) as client:
        result = pull(state.db(), org_id, client, clock=state.clock).as_dict()
    if as_json:
        echo_json(result)
        return
    _print_counts(result)


def _print_counts(result: dict[str, Any]) -> None:
    parts = []
    for label in ("created", "updated", "deleted", "skipped"):
        counts = result[label]
        if counts:
            parts.append(
                f"{label} " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
            )
    echo("Pulled: " + ("; ".join(parts) if parts else "nothing new") + ".")
    for e in result["errors"]:
        echo(f"  skipped {e['kind']} {e['remoteId']}: {e['error']}", err=True)


@sync_group.command("push")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_push(state: State, as_json: bool) -> None:
    """Send the changes waiting in the outbox now, in order."""
    org_id = _org_id(state)
    with _client(state, org_id) as client:
        result = push(state.db(), org_id, client, clock=state.clock)
    if as_json:
        echo_json(result.as_dict())
    else:
        echo(f"Sent {result.sent}, failed {result.failed}, {result.waiting} waiting.")
        for c in result.failures + result.uncertain:
            echo("  " + _describe_change(c), err=True)
        if result.uncertain:
            echo(
                f"{len(result.uncertain)} change(s) uncertain: see `oncall sync status`, then adopt, retry "
                "or discard each.",
                err=True,
            )
        if result.state == "busy":
            echo("Another process is pushing right now; the changes go with it.")
        elif result.error:
            echo(f"Holding: {result.error}", err=True)
    if result.state in ("offline", "error"):
        sys.exit(1)


@sync_group.command("retry")
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_retry(state: State, change_id: str, as_json: bool) -> None:
    """Put a failed or uncertain change back in the queue (in its original place); it goes with the next push.

    An uncertain create is sent again as it is, accepting a possible duplicate on the remote.
    """
    change = retry_change(state.db(), _org_id(state), change_id)
    if as_json:
        echo_json(change)
    else:
        echo(f"{change['id']} ({change['kind']}) queued again.")


@sync_group.command("discard")
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_discard(state: State, change_id: str, as_json: bool) -> None:
    """Give up a failed or uncertain change; the next pull restores the remote's version.

    A discarded create stays local only (a local incident is then paged by the local engine).
    """
    change = discard_change(state.db(), _org_id(state), change_id, clock=state.clock)
    if as_json:
        echo_json(change)
    else:
        echo(f"{change['id']} ({change['kind']}) discarded.")


@sync_group.command("adopt")
@click.argument("change_id")
@click.argument("remote_id")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def sync_adopt(state: State, change_id: str, remote_id: str, as_json: bool) -> None:
    """Settle an uncertain (or failed) create: link it to REMOTE_ID, the remote object it made.

    `oncall sync status` lists the candidates. The remote object must exist and not be linked already;
    later changes to the object then go out with the next push.
    """
    org_id = _org_id(state)
    with _client(state, org_id) as client:
        change = adopt_change(state.db(), org_id, change_id, remote_id, client, clock=state.clock)
    if as_json:
        echo_json(change)
    else:
        echo(f"{change['id']} ({change['kind']}) linked to remote {change['remoteId']}.")
