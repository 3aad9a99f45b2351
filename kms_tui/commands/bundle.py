"""A KMS backup bundle for the commands: :mod:`kms_tui.api.backup_files`, problems as exit 2.

The reading, checking and summing up of a bundle is shared with the console; here its
:class:`~kms_tui.api.backup_files.BundleError` becomes a usage error (exit 2, the same stable
code) and the sealed key records' own words become the states ``keys list`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kms_tui.api import backup_files
from kms_tui.api.backup_files import (
    BUNDLE_FORMAT,
    BUNDLE_SUFFIX,
    Bundle,
    BundleError,
    manifest_digest,
)
from kms_tui.commands.errors import EXIT_USAGE, CommandError
from kms_tui.commands.records import iso

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "Bundle",
    "bundle_from_bytes",
    "manifest_digest",
    "read_bundle",
    "sealed_states",
]


def _usage(err: BundleError) -> CommandError:
    return CommandError(err.message, code=err.code, exit_code=EXIT_USAGE)


def bundle_from_bytes(raw: bytes, where: Path | str) -> Bundle:
    """Parse and check a bundle (format, version, digest); a problem is exit 2."""
    try:
        return backup_files.bundle_from_bytes(raw, where)
    except BundleError as err:
        raise _usage(err) from None


def read_bundle(path: Path) -> Bundle:
    """Read and check the bundle file at ``path``; a problem is exit 2."""
    try:
        return backup_files.read_bundle(path)
    except BundleError as err:
        raise _usage(err) from err.__cause__


def sealed_states(
    bundle: Bundle, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, tuple[str, str | None]] | None, str | None]:
    """``{key_id: (state, deletion_date)}`` read with the backup KEK, or None and why not.

    ``state`` is the word ``keys list`` uses (``Enabled`` where the record says ``Active``),
    ``deletion_date`` ISO 8601 UTC with ``Z``; nothing else of a record is kept.
    """
    from kms_tui.api.wire import KeyStatus, parse_timestamp
    from kms_tui.tui.key_usability import key_state_of

    found, why = backup_files.sealed_statuses(bundle, environ)
    if found is None:
        return None, why
    states: dict[str, tuple[str, str | None]] = {}
    for key_id, (status, deletion) in found.items():
        try:
            state = key_state_of(KeyStatus(status)).value if status is not None else "?"
            when = iso(parse_timestamp(deletion)) if deletion else None
        except ValueError:
            return None, "a sealed record is malformed; the key states could not be read"
        states[key_id] = (state, when)
    return states, None
