"""Delivering the outbox: webhook and command channels (``log`` is delivered by the timeline itself).

One pass (:func:`deliver_due`) runs in three short transactions and never holds one across network I/O:

1. claim: pending rows whose ``next_attempt_ms`` has come are marked ``sending`` (attempts + 1);
2. send, outside any transaction, a few at a time;
3. record: ``sent`` on success; otherwise back to ``pending`` with an exponential back-off, or ``failed``
   after :data:`MAX_ATTEMPTS` or a permanent error. Every attempt is a ``page_delivery_attempt`` timeline
   event on the incident; giving up adds ``page_delivery_failed``.

Guarantees: a row the receiver answered 2xx for is never sent again. A page still waiting (first try or a
retry) when its incident is resolved, or a layer's page still waiting when the incident is acknowledged,
is cancelled (``page_delivery_cancelled``): no escalation page goes out after an ack. A row left ``sending`` by an engine
that died mid-send is **not** retried (its receiver may have answered 2xx): the engine that takes over
marks it ``unknown`` and records ``page_delivery_unknown``; the escalation's next layer is the safety net.
So pages are at-most-once per attempt and bounded-retry at-least-once for answered failures.

The same three steps also run split between threads: the API's group-commit writer claims the pages its
batch queued inside that batch's transaction (:meth:`engine.runtime.runner.EngineRunner.claim_pages`),
the runner's delivery thread sends them (:func:`send_claimed`) and the writer's next batch records them
(:func:`record_all`); the guarantees above are the same.

Notices (messages not tied to an incident: shift reminders; table ``notices``,
:mod:`engine.runtime.notices`) are claimed in the same transaction as pages and go through the same
channels, timeouts, retries, rate limit and crash rule; their attempts are ``notice_events`` rows rather
than incident timeline events, they carry no acknowledge link, are never cancelled, and one over its
contact method's rate limit waits for room rather than being folded into a summary. A claimed notice
row has ``is_notice`` (1) and NULL ``incident_id`` and ``layer_position``.

Webhook: ``POST`` of the JSON page, ``Content-Type: application/json``, ``X-Oncall-Signature:
sha256=<hex HMAC-SHA256 of the raw body with the contact method's secret>``, ``X-Oncall-Idempotency-Key``,
5 s timeout, redirects not followed. 2xx is success; 408, 429, 5xx and transport errors are retried; other
4xx (and 3xx) are permanent. A webhook whose address was set through an API key (or before that was
recorded) is re-checked against the operator's allow-list before every send
(:mod:`engine.runtime.webhook_targets`): if its host now resolves inside the operator's network (DNS rebinding)
the page fails permanently with the reason in the timeline; otherwise the request is sent to the very
addresses just checked (``Host`` and TLS name unchanged), so a second lookup cannot answer differently.

Command: only one the machine's operator set is run (anything else fails permanently: an API key could
have written it). The address is split like a shell command line and run without a shell, in a new
process group, with the page JSON on stdin and an environment of exactly ``PATH`` (the operator's
``[commands] path``, default ``/usr/local/bin:/usr/bin:/bin``), ``HOME``, ``LANG`` (the server's, else
``/`` and ``C.UTF-8``) and the page's own :data:`COMMAND_PAGE_VARIABLES`, never the server's other
variables (``SCALING_API_KEY``, …). Exit 0 is success; anything else, or :data:`SEND_TIMEOUT_S` (the
whole process group is then killed), is retried.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import shlex
import signal
import sqlite3
import ssl
import subprocess
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine import ack_links
from engine.clock import Clock
from engine.errors import ValidationError
from engine.runtime import apprise_channel, rule_steps
from engine.runtime.operator_config import OperatorConfig
from engine.runtime.sealing import SealError, unseal
from engine.runtime.webhook_targets import (
    IPAddress,
    WebhookHostUnresolved,
    check_webhook_target,
    parse_webhook_url,
)
from engine.timefmt import from_epoch_ms, to_epoch_ms, to_iso
from storage import timeline
from storage.db import Database
from storage.db_clock import write_at
from storage.queries import notices as notice_rows
from storage.queries import page_queue as queue_rows
from storage.queries import pages as page_rows

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("oncall.engine")

SEND_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 2.0  # 2 s, 4 s, 8 s (clock seconds) between attempts
SIGNATURE_HEADER = "X-Oncall-Signature"
IDEMPOTENCY_HEADER = "X-Oncall-Idempotency-Key"
COMMAND_PAGE_VARIABLES = (
    "ONCALL_IDEMPOTENCY_KEY",  # the page's idempotency key (also in the JSON)
    "ONCALL_INCIDENT_ID",
    "ONCALL_USER_ID",  # the person paged
    "ONCALL_CONTACT_METHOD_ID",
    "ONCALL_LAYER",  # the escalation layer's position, empty for a page outside a layer
)


@dataclass(frozen=True)
class Result:
    ok: bool
    retryable: bool
    detail: str
    status_code: int | None = None


def sign(secret: str, body: bytes) -> str:
    """The signature header value a receiver recomputes to authenticate a page."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(
    client: httpx.Client,
    url: str,
    secret: str | None,
    key: str,
    body: bytes,
    *,
    connect_to: list[IPAddress] | None = None,
) -> Result:
    """POST one page. With ``connect_to`` (addresses already checked), connect to those in turn rather
    than resolving the host again; the ``Host`` header and the TLS server name stay the URL's."""
    import httpx

    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return Result(False, False, f"invalid webhook address: {exc}")
    attempts: list[tuple[httpx.URL, dict[str, Any]]] = [(target, {})]
    if connect_to:
        host_header = target.netloc.decode("ascii")
        headers["Host"] = host_header
        extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
        attempts = [(target.copy_with(host=str(ip)), extensions) for ip in connect_to]
    resp = None
    for index, (request_url, extensions) in enumerate(attempts):
        try:
            resp = client.post(
                request_url, content=body, headers=headers, timeout=SEND_TIMEOUT_S, extensions=extensions
            )
            break
        except httpx.ConnectError as exc:
            if index + 1 < len(attempts):
                continue  # the next address, as a resolver-ordered connect would
            return Result(False, True, f"{type(exc).__name__}: {exc}")
        except httpx.TimeoutException:
            return Result(False, True, f"timed out after {SEND_TIMEOUT_S:g} s")
        except httpx.HTTPError as exc:
            return Result(False, True, f"{type(exc).__name__}: {exc}")
    assert resp is not None
    code = resp.status_code
    if 200 <= code < 300:
        return Result(True, False, f"HTTP {code}", code)
    retryable = code in (408, 429) or code >= 500
    return Result(False, retryable, f"HTTP {code}", code)


def command_environment(page_variables: dict[str, str], config: OperatorConfig) -> dict[str, str]:
    """The whole environment of a command page: PATH, HOME, LANG and the page's ONCALL_* variables."""
    env = {
        "PATH": config.commands.path,
        "HOME": os.environ.get("HOME") or "/",
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    env.update({k: v for k, v in page_variables.items() if k in COMMAND_PAGE_VARIABLES})
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_command(
    command: str,
    key: str,
    body: bytes,
    *,
    page_variables: dict[str, str] | None = None,
    config: OperatorConfig | None = None,
) -> Result:
    """Run one command page (see the module docstring); never raises."""
    variables = {"ONCALL_IDEMPOTENCY_KEY": key, **(page_variables or {})}
    env = command_environment(variables, config or OperatorConfig())
    try:
        argv = shlex.split(command)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills everything it started
        )
    except (OSError, ValueError) as exc:
        return Result(False, True, f"{type(exc).__name__}: {exc}")
    try:
        _, err = proc.communicate(body, timeout=SEND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:  # a descendant escaped the group and holds stderr open
            proc.wait()
        return Result(False, True, f"timed out after {SEND_TIMEOUT_S:g} s")
    if proc.returncode == 0:
        return Result(True, False, "exit 0")
    lines = err.decode(errors="replace").strip().splitlines()
    tail = f": {lines[-1][:200]}" if lines else ""
    return Result(False, True, f"exit {proc.returncode}{tail}")


def shown_address(channel: str, address: str | None) -> str | None:
    """A contact method's address as the timeline shows it: scheme and host only (an apprise address is
    stored masked already; a webhook URL's path may hold a token)."""
    if address is None or channel == "command":
        return None
    return address if channel == "apprise" else apprise_channel.mask(address)


def is_notice(row: RowLike) -> bool:
    """Whether a claimed row is a notice (table ``notices``) rather than a page."""
    return "is_notice" in row.keys()


def _event(db: Database, row: sqlite3.Row, now: datetime, kind: str, **data: Any) -> None:
    keys = row.keys()
    if "address" in keys and row["channel"] in ("webhook", "apprise"):
        data.setdefault("address", shown_address(row["channel"], row["address"]))
    if is_notice(row):  # no incident: the notice's own record (kind page_delivery_* → notice_delivery_*)
        data.update(userId=row["user_id"], channel=row["channel"], contactId=row["contact_id"],
                    idempotencyKey=row["idem_key"])  # fmt: skip
        notice_rows.record_event(db, row["seq"], to_iso(now), kind.replace("page_", "notice_", 1), data)
        return
    timeline.record(
        db,
        row["incident_id"],
        now,
        kind,
        None,
        userId=row["user_id"],
        channel=row["channel"],
        contactId=row["contact_id"],
        layer=row["layer_position"],
        idempotencyKey=row["idem_key"],
        **data,
    )


def mark_orphans_unknown(db: Database, clock: Clock) -> int:
    """Rows left ``sending`` by a dead engine: never resent (the receiver may have answered); recorded.

    Called by the engine that has just acquired the lease, before it delivers anything.
    """
    with write_at(db, clock) as now:
        rows = queue_rows.sending_rows(db)
        for row in rows:
            queue_rows.mark_unknown(db, row["seq"])
            _event(
                db,
                row,
                now,
                "page_delivery_unknown",
                attempt=row["attempts"],
                note="the engine stopped while sending; not retried because the receiver may have answered",
            )
            for folded in page_rows.folded_pages(db, row["seq"]):
                _event(db, folded, now, "page_delivery_unknown", attempt=0, inSummary=row["idem_key"],
                       note="the summary page carrying it was cut off by the engine stopping")  # fmt: skip
            page_rows.settle_folded(db, row["seq"], "unknown", to_iso(now), None)
        notices = notice_rows.sending_rows(db)
        for row in notices:
            notice_rows.mark_unknown(db, row["seq"])
            _event(db, row, now, "page_delivery_unknown", attempt=row["attempts"],
                   note="the engine stopped while sending; not retried because the receiver may have answered")  # fmt: skip
    return len(rows) + len(notices)


_TIMER_REASONS = ("escalation", "snooze_end")


def _stale_reason(row: sqlite3.Row) -> str | None:
    """Why a page waiting to be (re)sent should not go out any more: its incident was resolved, or a
    timer-driven page (a layer's escalation) was overtaken by an acknowledgement. Pages a person asked for
    (handoff, re-page reminder, escalate-now) are only stopped by resolve."""
    if row["incident_status"] == "resolved":
        return "incident resolved"
    acked = row["acknowledged_at"]
    if acked is not None and row["created_at"] <= acked:
        reason = json.loads(row["payload"] or "{}").get("reason")
        if reason in _TIMER_REASONS:
            return "incident acknowledged"
    return None


def _rate_limit(db: Database, now: datetime, rows: list[sqlite3.Row], per_minute: int) -> list[sqlite3.Row]:
    """Apply each contact method's limit of ``per_minute`` messages (0: none) to ``rows`` (due, fresh).

    A method with no room left this minute: its pages wait (still pending) until the oldest message of
    the minute leaves the window. A method with some room but more pages than room: ``room - 1`` go on
    their own and the rest are folded into one summary page (the first of them carries the others, which
    are marked ``folded``; ``page_delivery_folded`` on each folded incident). Returns what to send now.
    """
    if per_minute <= 0:
        return rows
    now_ms = to_epoch_ms(now)
    groups: dict[str, list[sqlite3.Row]] = {}
    for row in rows:
        if row["contact_id"] is not None and row["channel"] != "log":
            groups.setdefault(row["contact_id"], []).append(row)
    waiting: set[int] = set()
    for contact_id, group in groups.items():
        sent = page_rows.recent_sends(db, contact_id, now_ms)
        room = per_minute - len(sent)
        if room <= 0:
            until = sent[len(sent) - per_minute] + page_rows.RATE_WINDOW_MS
            for row in group:
                page_rows.postpone(db, row["seq"], until)
                waiting.add(row["seq"])
            continue
        if len(group) <= room:
            continue
        carrier, rest = group[room - 1], group[room:]
        for row in rest:
            page_rows.fold(db, row["seq"], carrier["seq"])
            waiting.add(row["seq"])
            _event(
                db,
                row,
                now,
                "page_delivery_folded",
                reason=f"rate limit: at most {per_minute} messages a minute to this contact method",
                intoIncidentId=carrier["incident_id"],
                intoIdempotencyKey=carrier["idem_key"],
            )
    return [r for r in rows if r["seq"] not in waiting]


def claim(
    db: Database, clock: Clock, limit: int = 20, *, fence: Any = None, rate_limit_per_minute: int = 0
) -> list[sqlite3.Row]:
    """Mark up to ``limit`` rows due at ``clock``'s now (read inside the transaction) ``sending`` and
    return them; nothing unless ``fence`` still holds. With ``rate_limit_per_minute`` each contact
    method gets at most that many messages a minute (:func:`_rate_limit`)."""
    with write_at(db, clock) as now:
        now_ms = to_epoch_ms(now)
        if fence is not None:
            from storage import lease

            if not lease.holds(db, fence):
                return []
        candidates = queue_rows.due_rows(db, now_ms, limit)
        rows = []
        for row in candidates:
            reason = _stale_reason(row)
            if reason is None:
                rows.append(row)
                continue
            queue_rows.mark_cancelled(db, row["seq"])
            _event(db, row, now, "page_delivery_cancelled", attempt=row["attempts"], reason=reason)
            page_rows.unfold(db, row["seq"])  # a summary that will not go: its pages wait on their own again
        rows = _rate_limit(db, now, rows, rate_limit_per_minute)
        for row in rows:
            if row["contact_id"] is not None and row["channel"] != "log":
                page_rows.record_send(db, row["contact_id"], now_ms)
            queue_rows.mark_sending(db, row["seq"], now_ms + int(SEND_TIMEOUT_S * 1000) * 2)
        room = limit - len(candidates)
        notices = _claim_notices(db, now_ms, room, rate_limit_per_minute) if room > 0 else []
    return rows + notices


def _claim_notices(db: Database, now_ms: int, limit: int, per_minute: int) -> list[sqlite3.Row]:
    """Claim up to ``limit`` due notices (inside :func:`claim`'s transaction, after the pages, so pages
    take a contact method's room first); one over its method's rate limit waits, still pending, until
    the oldest message of the minute leaves the window."""
    out = []
    for row in notice_rows.due_rows(db, now_ms, limit):
        contact_id = row["contact_id"]
        if per_minute > 0 and contact_id is not None and row["channel"] != "log":
            sent = page_rows.recent_sends(db, contact_id, now_ms)
            if len(sent) >= per_minute:
                notice_rows.postpone(db, row["seq"], sent[len(sent) - per_minute] + page_rows.RATE_WINDOW_MS)
                continue
        if contact_id is not None and row["channel"] != "log":
            page_rows.record_send(db, contact_id, now_ms)
        notice_rows.mark_sending(db, row["seq"], now_ms + int(SEND_TIMEOUT_S * 1000) * 2)
        out.append(row)
    return out


@dataclass(frozen=True)
class Outgoing:
    """What goes with a claimed row: its acknowledge link (None without a public URL) and the pages folded
    into it (rows with ``number``, ``title``, ``severity``, ``incident_id``)."""

    ack_url: str | None = None
    folded: tuple[sqlite3.Row, ...] = ()


RowLike = sqlite3.Row | dict[str, Any]
"""A claimed page queue row, or the dict :func:`send_test_page` builds in its shape."""


def page_body(row: RowLike, extra: Outgoing) -> bytes:
    """The JSON page (webhook, command): the queued payload plus the incident's short ``number``, the
    ``ackUrl`` when there is one, and ``folded`` pages (``{"incidentId", "number", "title", "severity"}``)
    with ``foldedCount`` for a summary."""
    page = json.loads(row["payload"])
    if "incident_number" in row.keys() and isinstance(page.get("incident"), dict):
        page["incident"]["number"] = row["incident_number"]
    if extra.ack_url is not None:
        page["ackUrl"] = extra.ack_url
    if extra.folded:
        page["foldedCount"] = len(extra.folded)
        page["folded"] = [
            {
                "incidentId": f["incident_id"],
                "number": f["number"],
                "title": f["title"],
                "severity": f["severity"],
            }
            for f in extra.folded
        ]
    return json.dumps(page, separators=(",", ":")).encode()


def page_text(row: RowLike, extra: Outgoing) -> apprise_channel.Message:
    """The page as a short text message (apprise): title ``#12 [critical] Disk full``; the body says the
    status, the layer, the acknowledge link and, for a summary, ``N more pages`` with each one."""
    page = json.loads(row["payload"])
    if page.get("type") not in ("page", "test") and page.get("text"):  # a notice: it says itself
        return apprise_channel.Message(str(page.get("title") or "oncall"), str(page["text"]))
    if page.get("type") == "test":
        return apprise_channel.Message(
            "Test page from oncall",
            f"This is a test page through {page.get('channel')} ({page.get('address')}); no incident is open.",
        )
    incident = page.get("incident") or {}
    number = row["incident_number"] if "incident_number" in row.keys() else None
    head = f"#{number} [{incident.get('severity', '?')}] {incident.get('title', '')}"
    lines = [f"Incident #{number}: {incident.get('title', '')}"]
    lines.append(f"Severity {incident.get('severity', '?')}, status {incident.get('status', '?')}")
    if page.get("layer") is not None:
        count = page.get("layerCount")
        lines.append(
            f"Paged by layer {page['layer']}" + (f" of {count}" if count else "") + f" ({page.get('reason')})"
        )
    elif page.get("reason"):
        lines.append(f"Paged: {page['reason']}")
    if extra.ack_url is not None:
        lines.append(f"Acknowledge: {extra.ack_url}")
    if extra.folded:
        n = len(extra.folded)
        head += f" (+{n} more page{'s' if n != 1 else ''})"
        lines.append("")
        lines.append(f"{n} more page{'s' if n != 1 else ''} (rate limit):")
        lines.extend(f"#{f['number']} [{f['severity']}] {f['title']}" for f in extra.folded)
    return apprise_channel.Message(head, "\n".join(lines), extra.ack_url)


def _send_apprise(row: RowLike, config: OperatorConfig, extra: Outgoing) -> Result:
    if not row["address_sealed"]:
        return Result(False, False, "the contact method has no sealed address (re-add it)")
    try:
        url = unseal(config.key_file, row["address_sealed"])
    except SealError as exc:
        return Result(False, False, f"refused: {exc.message}")
    if row["address_set_via"] != "operator":
        try:
            target = apprise_channel.parse_apprise_url(url)
            apprise_channel.check_apprise_target(target, config.webhooks)
        except WebhookHostUnresolved as exc:
            return Result(False, True, f"refused: {exc.message}")
        except ValidationError as exc:
            return Result(False, False, f"refused: {exc.message}")
    ok, detail = apprise_channel.send(url, page_text(row, extra))
    return Result(ok, not ok, detail)


def _send(
    row: RowLike, client: httpx.Client, config: OperatorConfig, extra: Outgoing | None = None
) -> Result:
    extra = extra or Outgoing()
    if row["contact_id"] is not None and row["address"] is None:
        return Result(False, False, "contact method was deleted")
    if row["channel"] == "apprise":
        return _send_apprise(row, config, extra)
    body = page_body(row, extra) if row["channel"] in ("webhook", "command") else row["payload"].encode()
    by_operator = row["address_set_via"] == "operator"
    if row["channel"] == "webhook":
        connect_to = None
        if not by_operator:
            try:
                connect_to = check_webhook_target(parse_webhook_url(row["address"]), config.webhooks)
            except WebhookHostUnresolved as exc:  # perhaps a passing DNS failure: try again later
                return Result(False, True, f"refused: {exc.message}")
            except ValidationError as exc:  # now resolves inside the operator's network, or malformed
                return Result(False, False, f"refused: {exc.message}")
        return send_webhook(
            client, row["address"], row["secret"], row["idem_key"], body, connect_to=connect_to or None
        )
    if row["channel"] == "command":
        if not by_operator:
            return Result(
                False,
                False,
                "refused: a command contact method runs only if the machine's operator set it "
                "(oncall users contacts add … --channel command)",
            )
        layer = row["layer_position"]
        variables = {
            "ONCALL_INCIDENT_ID": row["incident_id"] or "",
            "ONCALL_USER_ID": row["user_id"],
            "ONCALL_CONTACT_METHOD_ID": row["contact_id"] or "",
            "ONCALL_LAYER": "" if layer is None else str(layer),
        }
        return run_command(row["address"], row["idem_key"], body, page_variables=variables, config=config)
    return Result(True, False, "logged")


def record(db: Database, row: sqlite3.Row, clock: Clock, result: Result) -> None:
    """Record one attempt's ``result`` at ``clock``'s now, read inside the transaction."""
    attempt = row["attempts"] + 1
    if is_notice(row):
        _record_notice(db, row, clock, result, attempt)
        return
    with write_at(db, clock) as now:
        if result.ok:
            queue_rows.mark_sent(db, row["seq"], to_iso(now))
            _event(db, row, now, "page_delivery_attempt", attempt=attempt, ok=True, result=result.detail)
            _settle_folded(db, row, now, result, give_up=False)
            return
        give_up = not result.retryable or attempt >= MAX_ATTEMPTS
        retry_at = None if give_up else to_epoch_ms(now) + int(BACKOFF_BASE_S * 1000 * 2 ** (attempt - 1))
        queue_rows.mark_failed_attempt(
            db, row["seq"], give_up=give_up, retry_at_ms=retry_at, error=result.detail
        )
        _event(
            db,
            row,
            now,
            "page_delivery_attempt",
            attempt=attempt,
            ok=False,
            result=result.detail,
            retryAt=None if retry_at is None else to_iso(from_epoch_ms(retry_at)),
        )
        if give_up:
            _event(db, row, now, "page_delivery_failed", attempts=attempt, error=result.detail)
            _settle_folded(db, row, now, result, give_up=True)
            rule_steps.step_failed(db, row, now)  # a person's next notification rule step goes at once


def _retry_at(now: datetime, result: Result, attempt: int) -> int | None:
    """When a failed attempt is tried again (epoch ms), or None to give up."""
    if not result.retryable or attempt >= MAX_ATTEMPTS:
        return None
    return to_epoch_ms(now) + int(BACKOFF_BASE_S * 1000 * 2 ** (attempt - 1))


def _record_notice(db: Database, row: sqlite3.Row, clock: Clock, result: Result, attempt: int) -> None:
    """:func:`record` for a notice: the same statuses and back-off, its events in ``notice_events``."""
    with write_at(db, clock) as now:
        if result.ok:
            notice_rows.mark_sent(db, row["seq"], to_iso(now))
            _event(db, row, now, "page_delivery_attempt", attempt=attempt, ok=True, result=result.detail)
            return
        retry_at = _retry_at(now, result, attempt)
        notice_rows.mark_failed_attempt(
            db, row["seq"], give_up=retry_at is None, retry_at_ms=retry_at, error=result.detail
        )
        _event(db, row, now, "page_delivery_attempt", attempt=attempt, ok=False, result=result.detail,
               retryAt=None if retry_at is None else to_iso(from_epoch_ms(retry_at)))  # fmt: skip
        if retry_at is None:
            _event(db, row, now, "page_delivery_failed", attempts=attempt, error=result.detail)
            log.warning("notice %s to %s failed: %s", row["idem_key"], row["user_id"], result.detail)


def _settle_folded(db: Database, row: sqlite3.Row, now: datetime, result: Result, *, give_up: bool) -> None:
    """A summary page's outcome is its folded pages' outcome: each incident's timeline says so."""
    if result.ok or give_up:
        for folded in page_rows.folded_pages(db, row["seq"]):
            if result.ok:
                _event(db, folded, now, "page_delivery_attempt", attempt=1, ok=True, result=result.detail,
                       inSummary=row["idem_key"])  # fmt: skip
            else:
                _event(db, folded, now, "page_delivery_failed", attempts=0, inSummary=row["idem_key"],
                       error=f"the summary page carrying it failed: {result.detail}")  # fmt: skip
        page_rows.settle_folded(
            db,
            row["seq"],
            "sent" if result.ok else "failed",
            to_iso(now),
            None if result.ok else result.detail,
        )


def ack_url(db: Database, config: OperatorConfig, row: sqlite3.Row, now_ms: int) -> str | None:
    """The acknowledge link for a page row (``public_url/ack/<token>``), or None without a public URL.

    The token names the row's incident and person, expires ``ack_link_hours`` after ``now_ms`` and has an
    id derived from the row's idempotency key (engine/ack_links.py)."""
    base = config.pages.public_url
    if base is None:
        return None
    expires = now_ms + int(config.pages.ack_link_hours * 3_600_000)
    token = ack_links.mint(
        page_rows.link_key(db),
        row["incident_id"],
        row["user_id"],
        expires,
        ack_links.token_id_for(row["idem_key"]),
    )
    return f"{base}/ack/{token}"


def outgoing(
    db: Database, clock: Clock, rows: list[sqlite3.Row], config: OperatorConfig
) -> dict[str, Outgoing]:
    """Per claimed page row (by idempotency key): its acknowledge link and the pages folded into it
    (notices have neither)."""
    now_ms = to_epoch_ms(clock.now())
    pages = [r for r in rows if not is_notice(r)]
    folded = page_rows.folded_into(db, [r["seq"] for r in pages])
    return {
        r["idem_key"]: Outgoing(ack_url(db, config, r, now_ms), tuple(folded.get(r["seq"], ())))
        for r in pages
        if r["channel"] != "log"
    }


def send_test_page(
    contact: sqlite3.Row,
    user_id: str,
    now: datetime,
    config: OperatorConfig,
    client: httpx.Client | None = None,
) -> Result:
    """Send a test page (``{"type": "test", …}``, not tied to an incident) through one contact method row
    (``contact_methods``), now, with the same checks as a real page (allow-list, operator-only commands,
    timeouts) but no retry and no rate limit; returns the outcome."""
    import httpx

    key = f"test:{contact['id']}:{to_epoch_ms(now)}"
    payload = {
        "type": "test",
        "idempotencyKey": key,
        "userId": user_id,
        "channel": contact["channel"],
        "address": shown_address(contact["channel"], contact["address"]),
        "sentAt": to_iso(now),
    }
    row: dict[str, Any] = {
        "seq": 0,
        "idem_key": key,
        "incident_id": "",
        "user_id": user_id,
        "layer_position": None,
        "channel": contact["channel"],
        "contact_id": contact["id"],
        "address": contact["address"],
        "secret": contact["secret"],
        "address_set_via": contact["address_set_via"],
        "address_sealed": contact["address_sealed"],
        "payload": json.dumps(payload, separators=(",", ":")),
    }
    own = client is None
    http = client or httpx.Client()
    try:
        return _send(row, http, config)
    finally:
        if own:
            http.close()


def deliver_due(
    db: Database,
    clock: Clock,
    *,
    limit: int = 20,
    client: httpx.Client | None = None,
    workers: int = 4,
    fence: Any = None,
    config: OperatorConfig | None = None,
    pool: Executor | None = None,
) -> int:
    """One delivery pass over everything due at ``clock.now()``; returns how many attempts were made.

    ``config`` is the operator's configuration (webhook allow-list, commands' PATH); default: none.
    ``pool`` sends the pass's pages (the runner keeps one between passes); default: a pool of ``workers``
    threads made for this pass.
    """
    config = config or OperatorConfig()
    rows = claim(db, clock, limit, fence=fence, rate_limit_per_minute=config.pages.rate_limit_per_minute)
    if not rows:
        return 0
    extras = outgoing(db, clock, rows, config)
    own = client is None
    if client is None:
        client = new_client()  # a pass of its own (drills); the runner keeps one between passes
    try:
        if pool is None:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rows)))) as own_pool:
                results = send_claimed(rows, extras, client, config, own_pool)
        else:
            results = send_claimed(rows, extras, client, config, pool)
    finally:
        if own:
            client.close()
    record_all(db, clock, rows, results)
    return len(rows)


def send_claimed(
    rows: list[sqlite3.Row],
    extras: dict[str, Outgoing],
    client: httpx.Client,
    config: OperatorConfig,
    pool: Executor,
) -> list[Result]:
    """Send claimed rows (outside any transaction), several at once on ``pool``; their results in order.
    ``extras`` is :func:`outgoing`'s answer for them. Never raises for a page's failure: it is a result."""
    if len(rows) == 1:  # one page: sent from the calling thread, no hand-off to the pool
        row = rows[0]
        return [_send(row, client, config, extras.get(row["idem_key"]))]
    return list(pool.map(lambda r: _send(r, client, config, extras.get(r["idem_key"])), rows))


def record_all(db: Database, clock: Clock, rows: list[sqlite3.Row], results: list[Result]) -> None:
    """Record a pass's outcomes in one transaction (each row's :func:`record` a savepoint in it), or in
    the caller's transaction when there is one: one commit, not one a page, so a storm's deliveries take
    the write lock less often."""
    with db.write():
        for row, result in zip(rows, results, strict=True):
            record(db, row, clock, result)


def new_client(*, connections: int = 16) -> httpx.Client:
    """An HTTP client for delivery passes (the runner keeps one per delivery connection): its keep-alive
    connections are reused from one pass to the next, so a storm's pages to one webhook do not pay a TCP
    (and TLS) handshake each; the TLS context is built once per process (loading the CA bundle took ~10 ms,
    most of a loopback page's delivery time). Thread-safe; close it with ``.close()``."""
    import httpx  # imported on first use: the engine starts faster (recovery is timed from spawn)

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.Client(verify=_tls_context(), limits=limits)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (the CA bundle it ships with), made once and shared by every pass."""
    import httpx

    return httpx.create_ssl_context()
