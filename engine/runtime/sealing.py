"""Sealing contact-method secrets (apprise URLs hold tokens and passwords) with the operator's key.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256, :mod:`cryptography`) in a file only the operator can
read: ``[secrets] key_file`` of the operator's configuration, default ``contact-key`` beside the
configuration file. It is made on first use (mode 0600; its folder 0700 when we create it) and never
enters the database, so a copied database file alone does not reveal any URL. Every process that
delivers pages (``oncall serve``, ``oncall engine``, the console) must run as the same OS user with the same
configuration to read it; a process that cannot fails those pages with a clear reason in the timeline.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from engine.errors import DomainError


class SealError(DomainError):
    """The key file cannot be read or made, or a sealed value does not open with it."""

    status_code = 500
    type = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__("sealing_failed", message)


def _read_key(path: Path) -> bytes | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SealError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(f"the key file {path} is readable by others: chmod 600 it")
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise SealError(f"cannot read the key file {path}: {exc.strerror or exc}") from None


def load_key(path: Path, *, create: bool) -> bytes:
    """The key in ``path``; with ``create``, made (0600) if absent. Raises :class:`SealError`."""
    key = _read_key(path)
    if key is not None:
        return key
    if not create:
        raise SealError(
            f"no key file at {path}: the apprise URLs were sealed with a key this process cannot find"
        )
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now
        return load_key(path, create=False)
    except OSError as exc:
        raise SealError(f"cannot create the key file {path}: {exc.strerror or exc}") from None
    new = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(new + b"\n")
    return new


def seal(key_file: Path, text: str) -> str:
    """``text`` encrypted with the key in ``key_file`` (made on first use); ASCII, safe to store."""
    try:
        return Fernet(load_key(key_file, create=True)).encrypt(text.encode()).decode("ascii")
    except ValueError:
        raise SealError(f"the key file {key_file} does not hold a valid key") from None


def unseal(key_file: Path, sealed: str) -> str:
    """The text :func:`seal` sealed; raises :class:`SealError` (no key, another key, tampered value)."""
    try:
        return Fernet(load_key(key_file, create=False)).decrypt(sealed.encode("ascii")).decode()
    except ValueError:
        raise SealError(f"the key file {key_file} does not hold a valid key") from None
    except InvalidToken:
        raise SealError(
            f"the sealed address does not open with the key in {key_file} (another key?)"
        ) from None
