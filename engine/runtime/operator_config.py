"""The operator's configuration: what the person who runs oncall on this machine allows.

One TOML file, read once per process: ``$ONCALL_CONFIG`` if set, else ``config.toml`` in the user config
directory (``~/.config/oncall/config.toml`` on Linux). A missing file is an empty configuration (every
default applies); a file that cannot be read or parsed, or holds an unknown section or key, is refused
with :class:`ConfigError` naming the file, so a typo never silently widens or narrows a rule.

Sections (docs/OPERATOR.md has the reference)::

    [webhooks]
    allow = ["10.1.0.0/16", "hooks.internal.example"]   # hosts and networks API keys may point webhooks at

    [commands]
    path = "/usr/local/bin:/usr/bin:/bin"                 # PATH of the programs run for command pages

    [cli]
    identity = "you@example.com"                          # who the command line acts as by default

    [serve]
    public_url = "https://oncall.example.com"             # where people reach `oncall serve`: ack links

    [pages]
    rate_limit_per_minute = 5                             # per contact method; the rest fold into a summary
    ack_link_hours = 24                                   # how long an acknowledge link works

    [secrets]
    key_file = "~/.config/oncall/contact-key"             # the key sealing apprise URLs (made 0600 on first use)

Kept deliberately small and generic: each section is a frozen ``msgspec.Struct`` (a frozen dataclass
before: the same fields, equality, hashing and ``replace``, without the code every ``@dataclass`` generates
and execs at import, which every command paid: issue 17), and later sections are added beside these.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from engine.errors import DomainError
from engine.hostnames import dns_name

CONFIG_ENV = "ONCALL_CONFIG"
DEFAULT_COMMAND_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_RATE_LIMIT_PER_MINUTE = 5
DEFAULT_ACK_LINK_HOURS = 24.0
KEY_FILE_NAME = "contact-key"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(DomainError):
    """The operator's configuration file (or a ``--allow-webhook`` value) is unusable. Not a request
    error: the CLI prints it and exits 1."""

    status_code = 500
    type = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__("invalid_config", message)


class WebhookAllowList(Struct, frozen=True):
    """Hosts and networks an API key may point a webhook at, beyond the public internet.

    ``networks`` are IP networks (a bare address is a /32 or /128); ``hosts`` are lower-case ASCII DNS
    names (IDNA for internationalised ones, :func:`engine.hostnames.dns_name`) without a trailing dot,
    matched exactly (``localhost`` included): a name the operator lists is trusted whatever it resolves
    to. No wildcards: ``*.example.com`` is refused, not matched.
    """

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str], *, where: str) -> WebhookAllowList:
        """Entries such as ``"10.1.0.0/16"``, ``"127.0.0.1"``, ``"::1"``, ``"hooks.internal.example"``.

        Raises :class:`ConfigError` (naming ``where``) for an entry that is neither an IP address or
        network nor a syntactically valid host name (:func:`engine.hostnames.dns_name`: labels of 1-63
        characters, no empty label, valid IDNA, no wildcard); a name whose last label is all digits
        (``10.1``) is a mistyped address, refused too.
        """
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            if not isinstance(raw, str) or not raw.strip():
                raise ConfigError(f"{where}: each webhook allow entry must be a non-empty string")
            entry = raw.strip().lower()
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            refused = f"{where}: {raw!r} is neither an IP address or network (CIDR) nor a host name"
            try:
                name = dns_name(entry)
            except ValueError as exc:
                raise ConfigError(f"{refused}: as a name it {exc}") from None
            if name.rsplit(".", 1)[-1].isdigit():
                raise ConfigError(f"{refused}: it looks like an IP address but is not one")
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def merged(self, other: WebhookAllowList) -> WebhookAllowList:
        return WebhookAllowList(self.networks + other.networks, self.hosts | other.hosts)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


class CommandSettings(Struct, frozen=True):
    """How ``command`` pages run: the ``PATH`` they see (nothing else of the server's environment)."""

    path: str = DEFAULT_COMMAND_PATH


class CliSettings(Struct, frozen=True):
    """The command line's defaults: ``identity`` (an email or user id) is who it acts as when neither
    ``--as`` nor ``ONCALL_AS`` says; None acts as the organisation's first admin."""

    identity: str | None = None


class PageSettings(Struct, frozen=True):
    """How pages go out (docs/PAGES.md): ``public_url`` is the base URL people reach ``oncall serve`` at
    (``[serve] public_url`` or ``oncall serve --public-url``; without it pages carry no acknowledge link);
    at most ``rate_limit_per_minute`` messages a minute per contact method (0: no limit); an acknowledge
    link works ``ack_link_hours`` after the page."""

    public_url: str | None = None
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    ack_link_hours: float = DEFAULT_ACK_LINK_HOURS


def default_key_file() -> Path:
    """``contact-key`` beside the configuration file (:func:`config_path`)."""
    return config_path().parent / KEY_FILE_NAME


class OperatorConfig(Struct, frozen=True):
    """The whole file; ``OperatorConfig()`` is the configuration of a machine with no file."""

    webhooks: WebhookAllowList = field(default_factory=WebhookAllowList)
    commands: CommandSettings = field(default_factory=CommandSettings)
    source: Path | None = None  # the file read, if any
    cli: CliSettings = field(default_factory=CliSettings)
    pages: PageSettings = field(default_factory=PageSettings)
    key_file: Path = field(default_factory=default_key_file)  # seals apprise URLs (engine/runtime/sealing.py)

    def allowing_webhooks(self, entries: Iterable[str]) -> OperatorConfig:
        """This configuration plus ``oncall serve --allow-webhook`` entries (ConfigError if malformed)."""
        extra = WebhookAllowList.parse(entries, where="--allow-webhook")
        return replace(self, webhooks=self.webhooks.merged(extra))

    def with_public_url(self, url: str | None) -> OperatorConfig:
        """This configuration with ``oncall serve --public-url`` (ConfigError if it is not an http(s) URL)."""
        if url is None:
            return self
        return replace(
            self, pages=replace(self.pages, public_url=parse_public_url(url, where="--public-url"))
        )


def parse_public_url(value: Any, *, where: str) -> str:
    """An ``http(s)://host[:port][/path]`` base URL without a query, trailing ``/`` removed."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty http(s) URL")
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{where}: {text!r} must be an http(s) URL with a host and no query")
    if any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ConfigError(f"{where}: {text!r} must not contain spaces or control characters")
    return text.rstrip("/")


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$ONCALL_CONFIG``, else ``<user config dir>/oncall/config.toml``."""
    env = (os.environ if environ is None else environ).get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    from storage.user_dirs import user_config_dir  # platformdirs' answer, without its imports

    return Path(user_config_dir("oncall")) / "config.toml"


_SECTIONS: dict[str, set[str]] = {
    "webhooks": {"allow"},
    "commands": {"path"},
    "cli": {"identity"},
    "serve": {"public_url"},
    "pages": {"rate_limit_per_minute", "ack_link_hours"},
    "secrets": {"key_file"},
}


def load_operator_config(path: Path | None = None) -> OperatorConfig:
    """Read the operator's file (``path``, else :func:`config_path`). No file → ``OperatorConfig()``.

    Raises :class:`ConfigError` for an unreadable or malformed file, an unknown section or key, or a
    value of the wrong type.
    """
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return OperatorConfig(key_file=path.parent / KEY_FILE_NAME)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    import tomllib  # only when there is a file: its parser costs a few ms of every command's start-up

    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for section, value in doc.items():
        if section not in _SECTIONS or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(_SECTIONS))})")
        unknown = set(value) - _SECTIONS[section]
        if unknown:
            raise ConfigError(f"{path}: unknown key {section}.{sorted(unknown)[0]}")
    webhooks: dict[str, Any] = doc.get("webhooks", {})
    allow = webhooks.get("allow", [])
    if not isinstance(allow, list):
        raise ConfigError(f"{path}: webhooks.allow must be a list of strings")
    commands: dict[str, Any] = doc.get("commands", {})
    command_path = commands.get("path", DEFAULT_COMMAND_PATH)
    if not isinstance(command_path, str) or not command_path.strip():
        raise ConfigError(f"{path}: commands.path must be a non-empty string")
    identity = doc.get("cli", {}).get("identity")
    if identity is not None and (not isinstance(identity, str) or not identity.strip()):
        raise ConfigError(f"{path}: cli.identity must be a non-empty string (an email or user id)")
    serve: dict[str, Any] = doc.get("serve", {})
    public_url = serve.get("public_url")
    if public_url is not None:
        public_url = parse_public_url(public_url, where=f"{path}: serve.public_url")
    pages: dict[str, Any] = doc.get("pages", {})
    limit = pages.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT_PER_MINUTE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 10_000:
        raise ConfigError(
            f"{path}: pages.rate_limit_per_minute must be a whole number from 0 (no limit) to 10000"
        )
    hours = pages.get("ack_link_hours", DEFAULT_ACK_LINK_HOURS)
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 24 * 30:
        raise ConfigError(f"{path}: pages.ack_link_hours must be a number of hours above 0 and at most 720")
    secrets: dict[str, Any] = doc.get("secrets", {})
    key_file = secrets.get("key_file")
    if key_file is not None and (not isinstance(key_file, str) or not key_file.strip()):
        raise ConfigError(f"{path}: secrets.key_file must be a non-empty path")
    return OperatorConfig(
        webhooks=WebhookAllowList.parse(allow, where=f"{path}: webhooks.allow"),
        commands=CommandSettings(path=command_path),
        source=path,
        cli=CliSettings(identity=None if identity is None else identity.strip()),
        pages=PageSettings(public_url=public_url, rate_limit_per_minute=limit, ack_link_hours=float(hours)),
        key_file=Path(key_file).expanduser() if key_file else path.parent / KEY_FILE_NAME,
    )
