"""The ``apprise`` channel: pages through Apprise (https://github.com/caronc/apprise), one URL per contact
method: ``mailto://``/``mailtos://`` (SMTP), ``ntfy://``, ``pover://``, ``slack://``, ``matrix://``,
``msteams://``, ``discord://``, ``tgram://``, ``json://`` and a hundred more.

* :func:`parse_apprise_url` — 422 on ``address`` for a URL that is not one (no ``scheme://``), names a
  scheme Apprise does not know, or that Apprise cannot use (its own reason is quoted).
* :func:`mask` — the only form of the URL ever shown or stored in clear: scheme and server
  (``ntfys://ntfy.sh/…``); a host that is really a token (``slack://TOKEN/…``) is hidden too.
* :func:`check_apprise_target` — for a URL set through an API key, the server it sends to (an HTTP host,
  an SMTP host) obeys the webhook rules (:mod:`engine.runtime.webhook_targets`): public, or on the
  operator's allow-list. Checked at creation and again before each send; unlike a webhook, the
  connection is made by Apprise, which resolves the name again.
* :func:`send` — one message, synchronously, with a per-channel timeout (connect and read), never raises.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from engine.errors import ValidationError
from engine.runtime.operator_config import WebhookAllowList
from engine.runtime.webhook_targets import (
    WebhookHostUnresolved,
    WebhookTargetRefused,
    WebhookUrl,
    check_webhook_target,
)

SEND_TIMEOUT_S = 10.0  # connect and read, each; an SMTP conversation takes longer than a webhook POST

# Schemes whose host is always a server the sender connects to (not a token of a public service).
SERVER_SCHEMES = frozenset(
    "json jsons xml xmls form forms gotify gotifys matrix matrixs mailto mailtos apprise apprises mmost "
    "mmosts rocket rockets nctalk nctalks ncloud nclouds mqtt mqtts rsyslog syslog signal signals "
    "ntfy ntfys".split()
)

# Apprise's own log lines quote URLs half-masked (``u:p...p@1...5``): they never reach the process's log
# handlers; each send reads its own lines (below) and reports them with every secret part removed.
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").addHandler(logging.NullHandler())


class _ThreadCapture(logging.Handler):
    """Apprise reports why a send failed only through its logger: collect this thread's warnings (sends
    run in parallel; each reads its own)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())

    def __enter__(self) -> _ThreadCapture:
        logging.getLogger("apprise").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("apprise").removeHandler(self)

    def last(self, default: str) -> str:
        return self.lines[-1].strip() if self.lines else default


@dataclass(frozen=True)
class AppriseTarget:
    """A usable Apprise URL: ``scheme``, the ``host`` it connects to (None when the host is a token of a
    public service, e.g. Slack's) and ``port``."""

    url: str
    scheme: str
    host: str | None
    port: int | None


def _invalid(reason: str) -> ValidationError:
    return ValidationError(f"apprise address {reason}", field="address")


def _is_server_name(host: str) -> bool:
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _instantiate(url: str) -> tuple[Any, str]:
    """Apprise's plugin for ``url`` (None if refused) and the warnings it logged."""
    import apprise

    with _ThreadCapture() as logs:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    return plugin, logs.last("")


def parse_apprise_url(text: str) -> AppriseTarget:
    """Validate ``text`` as an Apprise URL; raises :class:`ValidationError` on ``address``."""
    from apprise.manager_plugins import NotificationManager

    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise _invalid("must not contain spaces or control characters (percent-encode them)")
    scheme, sep, _ = text.partition("://")
    if not sep or not scheme:
        raise _invalid(
            "must be an Apprise URL such as ntfy://topic, mailtos://user:pass@host or json://host/path"
        )
    scheme = scheme.lower()
    if scheme not in NotificationManager():
        raise _invalid(
            f"has an unknown scheme {scheme}:// (Apprise knows mailto, mailtos, ntfy, pover, slack, matrix, "
            "msteams, discord, tgram, json and many more: https://github.com/caronc/apprise/wiki)"
        )
    plugin, said = _instantiate(text)
    if plugin is None:
        reason = said or "it is incomplete or malformed"
        raise _invalid(f"cannot be used by Apprise's {scheme}:// service: {_scrub(reason, text)}")
    host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None) or None
    server = scheme in SERVER_SCHEMES or getattr(plugin, "mode", None) == "private"
    if host is not None and not (server or _is_server_name(str(host))):
        host = None
    if scheme in ("ntfy", "ntfys") and getattr(plugin, "mode", None) == "cloud":
        host = None  # ntfy.sh itself
    port = getattr(plugin, "port", None)
    return AppriseTarget(text, scheme, None if host is None else str(host).lower(), port if port else None)


def check_apprise_target(target: AppriseTarget, allow: WebhookAllowList) -> None:
    """Refuse a URL set through an API key whose server is not public nor allowed (422 on ``address``)."""
    if target.host is None:
        return
    host = target.host.strip("[]")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    secure = target.scheme.endswith("s") and target.scheme not in ("ntfy", "mailto", "signal", "syslog")
    port = target.port or (443 if secure else 80)
    url = WebhookUrl(mask(target.url), target.scheme, host, port, ip)
    try:
        check_webhook_target(url, allow)
    except WebhookTargetRefused as exc:
        reason = exc.message.removeprefix("webhook address ").removeprefix("webhook host ")
        message = f"apprise target {reason}".replace("point a webhook there", "send there")
        raise (WebhookHostUnresolved if isinstance(exc, WebhookHostUnresolved) else WebhookTargetRefused)(
            message
        ) from None


def mask(url: str) -> str:
    """``scheme://host[:port]/…``: what may be shown of an Apprise URL (never a user, password, token,
    topic or query). A host that is not a server name (a token) shows as ``…``."""
    scheme, _, rest = url.partition("://")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme.lower()}://…"
    if not host or not _is_server_name(host):
        return f"{scheme.lower()}://…"
    shown = f"[{host}]" if ":" in host else host
    if port:
        shown = f"{shown}:{port}"
    extra = parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment
    return f"{scheme.lower()}://{shown}{'/…' if extra else ''}"


@dataclass(frozen=True)
class Message:
    """One page as text: ``title``, ``body``; ``ack_url`` becomes an action where the service has one."""

    title: str
    body: str
    ack_url: str | None = None


def with_actions(url: str, scheme: str, ack_url: str | None) -> str:
    """``url`` with the acknowledge link as ntfy action buttons (view: the confirmation page; http: a
    direct POST) and click-through; other services get the link in the body only."""
    if ack_url is None or scheme not in ("ntfy", "ntfys"):
        return url
    actions = f"view, Open, {ack_url}; http, Acknowledge, {ack_url}, method=POST, clear=true"
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode({"click": ack_url, "actions": actions}, quote_via=quote)  # %20, not +


def send(url: str, message: Message, *, timeout_s: float = SEND_TIMEOUT_S) -> tuple[bool, str]:
    """Send ``message`` to ``url``; ``(delivered, detail)``. Never raises; the detail never holds the URL."""
    scheme = url.partition("://")[0].lower()
    try:
        plugin, said = _instantiate(with_actions(url, scheme, message.ack_url))
        if plugin is None:
            return False, _scrub(f"Apprise refused the URL: {said or 'malformed'}", url)
        plugin.socket_connect_timeout = timeout_s
        plugin.socket_read_timeout = timeout_s
        with _ThreadCapture() as logs:
            ok = bool(plugin.notify(body=message.body, title=message.title))
        said = logs.last("")
    except Exception as exc:  # a plugin's bug must not stop the delivery pass
        return False, f"{type(exc).__name__} in Apprise's {scheme}:// service"
    if ok:
        return True, f"sent through {scheme}://"
    reason = said or "the service did not accept the message"
    return False, _scrub(reason, url)


def _scrub(text: str, url: str) -> str:
    """``text`` without any piece of ``url`` long enough to be a secret (tokens, passwords)."""
    try:
        parts = urlsplit(url)
        pieces = [parts.username, parts.password, *parts.path.split("/"), *parts.query.split("&")]
    except ValueError:
        pieces = []
    netloc_host = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
    if netloc_host and not _is_server_name(netloc_host.split(":")[0]):
        pieces.append(netloc_host)
    for piece in pieces:
        if piece and len(piece) >= 6:
            text = text.replace(piece, "…")
    return text[:300]
