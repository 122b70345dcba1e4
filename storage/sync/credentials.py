"""Where the Scaling API key lives, and how it is shown.

Precedence: ``SCALING_API_KEY`` in the environment, then the OS keyring (when the optional ``keyring``
package is installed with a usable backend and ``ONCALL_KEYRING`` is not ``0``), then a JSON file only its
owner can read (mode 0600, in a 0700 directory): ``$ONCALL_CREDENTIALS`` or ``credentials.json`` in the user
config directory. Entries are keyed by the local organisation id.

The key is never written to the database, a log, an error message or ``--json`` output: it travels inside a
:class:`Secret` whose ``str``/``repr`` are masked (``scl_live_…abcd``), and :func:`redact` scrubs it from
any text that could carry it (error bodies echoed by a remote, exception messages).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DomainError

ENV_KEY = "SCALING_API_KEY"
ENV_FILE = "ONCALL_CREDENTIALS"
ENV_KEYRING = "ONCALL_KEYRING"
KEYRING_SERVICE = "oncall-scaling"
DEFAULT_BASE_URL = "https://api.scaling.cloud"

log = logging.getLogger("oncall.sync")


def mask(key: str | None) -> str:
    """``scl_live_…abcd``: the only way a key is ever shown."""
    if not key:
        return "(none)"
    prefix = "scl_live_" if key.startswith("scl_live_") else ""
    return f"{prefix}…{key[-4:]}" if len(key) >= 8 else "…"


class Secret:
    """A key that masks itself wherever it could be printed or logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    @property
    def last4(self) -> str:
        return self._value[-4:]

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str, *secrets: Secret | str | None) -> str:
    """``text`` with every occurrence of the given keys replaced by their masked form."""
    for s in secrets:
        if s is None:
            continue
        raw = s.reveal() if isinstance(s, Secret) else s
        if raw and len(raw) >= 8:
            text = text.replace(raw, mask(raw))
    return text


class CredentialError(DomainError):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__("credentials_error", message)


@dataclass(frozen=True)
class StoredKey:
    key: Secret
    source: str  # "env" | "keyring" | "file"


def credentials_path() -> Path:
    env = os.environ.get(ENV_FILE)
    if env:
        return Path(env).expanduser()
    from storage.user_dirs import user_config_dir

    return Path(user_config_dir("oncall")) / "credentials.json"


def _keyring() -> Any | None:
    """The ``keyring`` module when installed with a real backend (never the fail/null backends)."""
    if os.environ.get(ENV_KEYRING, "1") == "0":
        return None
    try:
        import keyring  # type: ignore[import-not-found]
        from keyring.backends import fail  # type: ignore[import-not-found]
    except Exception:
        return None
    try:
        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
            return None
    except Exception:
        return None
    return keyring


# -- the 0600 file -------------------------------------------------------------------------------


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Readable by others: tighten it before reading, and say so (without the key).
        log.warning("credentials file %s had mode %o; set to 0600", path, mode)
        os.chmod(path, 0o600)
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise CredentialError(f"cannot read the credentials file {path}: {type(exc).__name__}") from None
    return data if isinstance(data, dict) else {}


def _write_file(path: Path, data: dict[str, Any]) -> None:
    """Atomic write of a file created 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.chmod(path, 0o600)


# -- public API ----------------------------------------------------------------------------------


def store_key(org_id: str, key: str) -> str:
    """Keep ``key`` for ``org_id``; returns where ("keyring" or "file")."""
    if not key or any(c.isspace() for c in key):
        raise CredentialError("the API key is empty or contains whitespace")
    kr = _keyring()
    if kr is not None:
        try:
            kr.set_password(KEYRING_SERVICE, org_id, key)
            return "keyring"
        except Exception as exc:  # a locked or broken keyring: fall back to the file
            log.warning("keyring unavailable (%s); using the credentials file", type(exc).__name__)
    path = credentials_path()
    data = _read_file(path)
    data[org_id] = {"apiKey": key}
    _write_file(path, data)
    return "file"


def load_key(org_id: str) -> StoredKey | None:
    """The key to use for ``org_id``: the environment first, then the keyring, then the file."""
    env = os.environ.get(ENV_KEY)
    if env and env.strip():
        return StoredKey(Secret(env.strip()), "env")
    kr = _keyring()
    if kr is not None:
        try:
            value = kr.get_password(KEYRING_SERVICE, org_id)
        except Exception:
            value = None
        if value:
            return StoredKey(Secret(value), "keyring")
    entry = _read_file(credentials_path()).get(org_id)
    if isinstance(entry, dict) and isinstance(entry.get("apiKey"), str) and entry["apiKey"]:
        return StoredKey(Secret(entry["apiKey"]), "file")
    return None


def delete_key(org_id: str) -> bool:
    """Forget the stored key (keyring and file). The environment variable is the user's to unset."""
    removed = False
    kr = _keyring()
    if kr is not None:
        try:
            kr.delete_password(KEYRING_SERVICE, org_id)
            removed = True
        except Exception:
            pass
    path = credentials_path()
    data = _read_file(path)
    if org_id in data:
        del data[org_id]
        _write_file(path, data)
        removed = True
    return removed
