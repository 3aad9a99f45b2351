"""Finding a secret in text, bytes and files, in every form it could be written in."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


def forms(secret: str | bytes) -> tuple[bytes, ...]:
    """The byte strings that would betray ``secret`` if any of them were written down.

    Text secrets: UTF-8, as JSON and ``repr`` escape it, and base64 of it. Binary secrets (data
    keys, key material): raw, base64 (standard, URL-safe, unpadded) and hex in both cases.
    """
    found: set[bytes] = set()
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
        found.add(raw)
        found.add(json.dumps(secret)[1:-1].encode("utf-8"))
        found.add(json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8"))
        found.add(repr(secret)[1:-1].encode("utf-8", errors="backslashreplace"))
    else:
        raw = bytes(secret)
        found.add(raw)
        found.add(raw.hex().encode())
        found.add(raw.hex().upper().encode())
        found.add(repr(raw)[2:-1].encode())
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        found.add(encoded)
        found.add(encoded.rstrip(b"="))
    return tuple(form for form in found if len(form) >= 8)


def text_forms(secret: str | bytes) -> tuple[str, ...]:
    """:func:`forms` as text, for searching ``repr()``, messages and screenshots."""
    return tuple(form.decode("utf-8", errors="replace") for form in forms(secret))


def leaked_in_text(text: str, secrets: Mapping[str, str | bytes]) -> list[str]:
    """Names of the secrets that appear in ``text`` in any form."""
    return [name for name, secret in secrets.items() if any(f in text for f in text_forms(secret))]


@dataclass(frozen=True)
class Leak:
    """One secret found in one file."""

    path: Path
    secret_name: str


def files_under(roots: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under ``roots`` (symlinks are not followed)."""
    for root in roots:
        if root.is_file():
            yield root
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath) / name
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path


def scan_files(
    roots: Iterable[Path],
    secrets: Mapping[str, str | bytes],
    *,
    allowed: Mapping[Path, set[str]] | None = None,
) -> list[Leak]:
    """Every (file, secret) pair where the file holds the secret and is not meant to."""
    allowed = allowed or {}
    leaks: list[Leak] = []
    for path in files_under(roots):
        content = path.read_bytes()
        for name, secret in secrets.items():
            if name in allowed.get(path, set()):
                continue
            if any(form in content for form in forms(secret)):
                leaks.append(Leak(path, name))
    return leaks


def mode_of(path: Path) -> int:
    """Permission bits of ``path`` itself."""
    return stat.S_IMODE(path.lstat().st_mode)


def wrong_modes(root: Path) -> list[tuple[Path, str]]:
    """Every directory under ``root`` (itself included) not 0700 and every file not 0600."""
    found: list[tuple[Path, str]] = []
    if mode_of(root) != 0o700:
        found.append((root, f"{mode_of(root):04o}"))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = Path(dirpath) / name
            if mode_of(path) != 0o700:
                found.append((path, f"{mode_of(path):04o}"))
        for name in filenames:
            path = Path(dirpath) / name
            if mode_of(path) != 0o600:
                found.append((path, f"{mode_of(path):04o}"))
    return found
