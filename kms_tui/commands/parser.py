"""The commands' arguments: one sub-parser per command, every one taking ``--json``.

Nothing here imports a client: a command's module (``handler``, as ``module:function``) is
imported only when that command runs, so ``kms-tui --help`` and usage errors stay instant.
Each leaf sets ``handler``, and ``writes`` (what it changes, for the read-only refusal) and
``destructive`` (needs ``--yes`` off a terminal) where they apply.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["COMMAND_NAMES", "add_commands"]

COMMAND_NAMES = frozenset({"status", "doctor", "keys", "buckets", "backup"})
KEY_STATES = ("Enabled", "Disabled", "PendingDeletion")
MIN_DAYS, MAX_DAYS = 7, 30


def _state(text: str) -> str:
    for state in KEY_STATES:
        if text.lower() == state.lower():
            return state
    raise argparse.ArgumentTypeError(
        f"invalid state {text!r} (choose from {', '.join(KEY_STATES)})"
    )


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(
            f"the deletion window must be {MIN_DAYS} to {MAX_DAYS} days, not {days}"
        )
    return days


def _tag(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a tag is KEY=VALUE, not {text!r}")
    return name, value


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def add_commands(sub: Any) -> None:
    """Add every command to the ``kms-tui`` sub-parsers (``serve`` is added by the caller)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="write one JSON document to stdout")

    def leaf(parent: Any, name: str, handler: str, help_text: str, **defaults: Any) -> Any:
        parser = parent.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text[:1].upper() + help_text[1:] + ".",
        )
        parser.set_defaults(handler=handler, writes=None, destructive=False)
        parser.set_defaults(**defaults)
        return parser

    leaf(sub, "status", "kms_tui.commands.status:run_status", "show the KMS service's state")
    doctor = leaf(
        sub,
        "doctor",
        "kms_tui.commands.doctor:run_doctor",
        "check, step by step, everything an operator checks by hand; a fix for each failure",
    )
    doctor.add_argument(
        "--probe",
        metavar="BUCKET",
        type=_nonempty,
        help="also write, check and delete a probe object in BUCKET (not in read-only mode)",
    )

    _add_keys(sub, leaf)
    _add_buckets(sub, leaf)
    _add_backup(sub, leaf)


def _group(sub: Any, name: str, help_text: str, dest: str) -> Any:
    group = sub.add_parser(
        name, help=help_text, description=help_text[:1].upper() + help_text[1:] + "."
    )
    return group.add_subparsers(dest=dest, metavar="ACTION", required=True)


def _add_keys(sub: Any, leaf: Any) -> None:
    keys = _group(sub, "keys", "list, show, create, delete and change master keys", "keys_command")
    module = "kms_tui.commands.keys"
    listing = leaf(keys, "list", f"{module}:run_list", "list every key, page by page")
    listing.add_argument(
        "--state", type=_state, metavar="|".join(KEY_STATES), help="only keys in this state"
    )
    listing.add_argument(
        "--filter", metavar="TEXT", help="only keys whose id, description or tags contain TEXT"
    )
    listing.add_argument(
        "--ndjson",
        action="store_true",
        help="one JSON object per key and line, written as the pages arrive",
    )
    show = leaf(keys, "show", f"{module}:run_show", "show one key")
    show.add_argument("key_id", metavar="KEY_ID")
    create = leaf(keys, "create", f"{module}:run_create", "create a key", writes="create a key")
    create.add_argument("--description", metavar="TEXT")
    create.add_argument(
        "--tag",
        dest="tags",
        action="append",
        type=_tag,
        default=[],
        metavar="KEY=VALUE",
        help="a tag (repeatable)",
    )
    create.add_argument("--name", metavar="NAME", help="the key's name (its id on most backends)")
    delete = leaf(
        keys,
        "delete",
        f"{module}:run_delete",
        "schedule keys for deletion after a waiting period",
        writes="schedule key deletion",
        destructive=True,
    )
    delete.add_argument("key_ids", nargs="+", metavar="KEY_ID")
    delete.add_argument(
        "--days",
        type=_days,
        default=30,
        metavar="N",
        help=f"waiting period, {MIN_DAYS} to {MAX_DAYS} days (default 30)",
    )
    delete.add_argument("--yes", action="store_true", help="do not ask for a typed confirmation")
    for name, verb, help_text in (
        ("undelete", "cancel key deletion", "cancel the scheduled deletion of keys"),
        ("enable", "enable keys", "enable keys"),
        ("disable", "disable keys", "disable keys"),
    ):
        bulk = leaf(keys, name, f"{module}:run_{name}", help_text, writes=verb)
        bulk.add_argument("key_ids", nargs="+", metavar="KEY_ID")
    impact = leaf(
        keys,
        "impact",
        "kms_tui.commands.impact:run_impact",
        "what still uses a key: bucket defaults, and with --objects every object under it",
    )
    impact.add_argument("key_id", metavar="KEY_ID")
    impact.add_argument(
        "--objects",
        action="store_true",
        help="also list every object of every bucket and HEAD each one (can take long)",
    )


def _add_buckets(sub: Any, leaf: Any) -> None:
    buckets = _group(sub, "buckets", "buckets and their default encryption", "buckets_command")
    module = "kms_tui.commands.buckets"
    leaf(buckets, "list", f"{module}:run_list", "list buckets with their default encryption")
    encryption = leaf(
        buckets, "encryption", f"{module}:run_encryption", "show a bucket's default encryption"
    )
    encryption.add_argument("bucket", metavar="BUCKET")
    encrypt = leaf(
        buckets,
        "encrypt",
        f"{module}:run_encrypt",
        "set a bucket's default encryption",
        writes="set bucket encryption",
    )
    encrypt.add_argument("bucket", metavar="BUCKET")
    choice = encrypt.add_mutually_exclusive_group(required=True)
    choice.add_argument("--sse-s3", action="store_true", help="SSE-S3 (AES256)")
    choice.add_argument("--kms-key", metavar="KEY_ID", type=_nonempty, help="SSE-KMS under KEY_ID")
    unencrypt = leaf(
        buckets,
        "unencrypt",
        f"{module}:run_unencrypt",
        "remove a bucket's default encryption",
        writes="remove bucket encryption",
        destructive=True,
    )
    unencrypt.add_argument("bucket", metavar="BUCKET")
    unencrypt.add_argument("--yes", action="store_true", help="do not ask for a typed confirmation")
    verify = leaf(
        buckets,
        "verify",
        f"{module}:run_verify",
        "write a probe object to each bucket and check it is encrypted as the default says",
        writes="write probe objects",
    )
    verify.add_argument("buckets", nargs="+", metavar="BUCKET")


def _add_backup(sub: Any, leaf: Any) -> None:
    backup = _group(sub, "backup", "back up and restore the KMS keys", "backup_command")
    module = "kms_tui.commands.backup"
    create = leaf(
        backup,
        "create",
        f"{module}:run_create",
        "have the server write a backup bundle and copy it to FILE (mode 0600)",
    )
    create.add_argument("file", metavar="FILE")
    create.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    inspect = leaf(
        backup,
        "inspect",
        f"{module}:run_inspect",
        "show what a bundle holds (no server needed)",
    )
    inspect.add_argument("file", metavar="FILE")
    restore = leaf(
        backup,
        "restore",
        f"{module}:run_restore",
        "restore the keys of a bundle (stops and restarts the KMS service)",
        writes="restore a backup",
        destructive=True,
    )
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--yes", action="store_true", help="do not ask for a typed confirmation")
