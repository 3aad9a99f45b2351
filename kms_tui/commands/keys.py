"""``kms-tui keys list|show|create|delete|undelete|enable|disable``.

``keys list`` streams: each page is written as it arrives (``--ndjson``: one key per line;
``--json``: one document written piece by piece), so 100,000 keys take constant memory. Listings
carry no deletion date, so the pending keys of each page are described (a few at a time), as
the console does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kms_tui.commands.bulk import run_bulk
from kms_tui.commands.confirm import ask_typed, interactive
from kms_tui.commands.output import Output, Style
from kms_tui.commands.records import (
    impact_record,
    iso,
    key_from_info,
    key_from_metadata,
    unreadable_key,
)
from kms_tui.commands.runner import Context
from kms_tui.commands.session import Session

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.models import KeyInfo

__all__ = [
    "run_create",
    "run_delete",
    "run_disable",
    "run_enable",
    "run_list",
    "run_show",
    "run_undelete",
]

FIRST_PAGE = 100  # a small first page: the first line comes sooner
PAGE = 1000
DESCRIBE_IN_FLIGHT = 8
BUCKET_KIND = "bucket-default-encryption"  # the impact reference kind RustFS uses


# --- list --------------------------------------------------------------------------------------


class _KeyWriter:
    """Writes keys as they come: NDJSON lines, a JSON document in pieces, or text rows.

    NDJSON and text for a pipe are gathered per page and written (and flushed) once a page is
    done, so a reader sees each page as it arrives without a system call per key. ``--json`` is
    written whole at the end, so a listing that fails half-way leaves only the error document.
    """

    def __init__(self, out: Output) -> None:
        self.out = out
        self.count = 0
        self._id_width = 0
        self._pending: list[str] = []

    def key(self, record: dict[str, Any]) -> None:
        out = self.out
        if out.ndjson:
            self._pending.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            self._pending.append("\n")
        elif out.json:
            self._pending.append('{\n  "keys": [\n    ' if self.count == 0 else ",\n    ")
            self._pending.append(json.dumps(record, ensure_ascii=False))
        else:
            self._row(record)
        self.count += 1

    def _row(self, record: dict[str, Any]) -> None:
        out = self.out
        if self.count == 0:
            self._id_width = min(max(len(record["key_id"]), 6), 40)
            header = (
                f"{'KEY ID':<{self._id_width}}  {'STATE':<15}  {'CREATED':<20}  "
                f"{'DELETION':<20}  {'DESCRIPTION':<40}  TAGS"
            )
            self._text(((header, Style.HEADER),))
        description = record["description"] or ""
        if len(description) > 40:
            description = description[:39] + "…"
        tags = ", ".join(f"{k}={v}" for k, v in sorted(record["tags"].items()))
        self._text(
            (
                f"{record['key_id']:<{self._id_width}}  ",
                out.state(f"{record['state']:<15}"),
                f"  {record['created_at'] or '-':<20}  {record['deletion_date'] or '-':<20}  "
                f"{description:<40}  {tags}".rstrip(),
            )
        )

    def _text(self, parts: tuple[str | tuple[str, str | None], ...]) -> None:
        if self.out.stdout_tty:
            self.out.line(*parts)
        else:
            self._pending.append("".join(p if isinstance(p, str) else p[0] for p in parts))
            self._pending.append("\n")

    def flush(self) -> None:
        """Write what the page gave (``--json``: nothing until :meth:`close`)."""
        if self._pending and (self.out.ndjson or not self.out.json):
            self.out.write("".join(self._pending))
            self._pending.clear()

    def close(self) -> None:
        out = self.out
        if out.json and not out.ndjson:
            if self.count == 0:
                self._pending.append('{\n  "keys": [],\n  "count": 0\n}\n')
            else:
                self._pending.append(f'\n  ],\n  "count": {self.count}\n}}\n')
            out.write("".join(self._pending))
            self._pending.clear()
            return
        self.flush()
        if not out.ndjson and out.stdout_tty:
            out.line((f"{self.count:,} key{'s' if self.count != 1 else ''}", Style.DIM))


def _search_text(info: KeyInfo) -> str:
    from kms_tui.tui.formatting import format_tags

    return f"{info.key_id}\n{info.description or ''}\n{format_tags(info.tags)}".lower()


async def deletion_dates(
    admin: KmsAdminClient, key_ids: Sequence[str], out: Output
) -> dict[str, datetime]:
    """The deletion date of each pending key (describe, a few at a time)."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    if not key_ids:
        return {}
    gate = asyncio.Semaphore(DESCRIBE_IN_FLIGHT)
    dates: dict[str, datetime] = {}

    async def one(key_id: str) -> None:
        async with gate:
            try:
                described = await admin.describe_key(key_id)
            except KmsTransportError:
                raise
            except KmsError as err:
                out.message(f"{key_id}: deletion date not read: {err.message}")
                return
        if described.metadata.deletion_date is not None:
            dates[key_id] = described.metadata.deletion_date

    await asyncio.gather(*(one(key_id) for key_id in key_ids))
    return dates


async def run_list(ctx: Context) -> int:
    """Every key, page by page, filtered by state and text like the console's ``/``."""
    from kms_tui.api.prefetch import prefetched
    from kms_tui.api.wire import KeyStatus
    from kms_tui.tui.key_usability import key_state_of

    args, out = ctx.args, ctx.out
    wanted_state: str | None = args.state
    needle = (args.filter or "").lower()
    writer = _KeyWriter(out)
    unreadable = 0
    listed = 0
    async with ctx.session() as session:
        # The server renders the next page while this one is written out.
        pages = prefetched(session.admin.iter_keys(page_size=PAGE, first_page_size=FIRST_PAGE))
        async with contextlib.aclosing(pages):
            async for page in pages:
                matched = [
                    info
                    for info in page.keys
                    if (wanted_state is None or key_state_of(info.status).value == wanted_state)
                    and (not needle or needle in _search_text(info))
                ]
                pending = [
                    info.key_id for info in matched if info.status is KeyStatus.PENDING_DELETION
                ]
                dates = await deletion_dates(session.admin, pending, out)
                for info in matched:
                    writer.key(key_from_info(info, dates.get(info.key_id)))
                for key_id in page.unreadable_key_ids:
                    unreadable += 1
                    if wanted_state is None and (not needle or needle in key_id.lower()):
                        writer.key(unreadable_key(key_id))
                writer.flush()
                listed += len(page.keys)
                out.progress(f"listed {listed:,} keys, {writer.count:,} shown…")
    writer.close()
    if unreadable:
        out.message(
            f"{unreadable} key record(s) could not be read by the server (state Unreadable)"
        )
    return 0


# --- show, create --------------------------------------------------------------------------------


def _show_key(out: Output, record: dict[str, Any]) -> None:
    tags = ", ".join(f"{k}={v}" for k, v in sorted(record["tags"].items()))
    out.fields(
        [
            ("key id", record["key_id"]),
            ("state", record["state"]),
            ("description", record["description"]),
            ("tags", tags or None),
            ("created", record["created_at"]),
            ("deletion", record["deletion_date"]),
        ]
    )


async def run_show(ctx: Context) -> int:
    """One key, described."""
    async with ctx.session() as session:
        described = await session.admin.describe_key(ctx.args.key_id)
    record = key_from_metadata(described.metadata)
    if ctx.out.json:
        ctx.out.document(record)
    else:
        _show_key(ctx.out, record)
    return 0


async def run_create(ctx: Context) -> int:
    """Create a key with a description, tags and an optional name."""
    args = ctx.args
    tags: dict[str, str] = {}
    for name, value in args.tags:
        tags[name] = value
    async with ctx.session() as session:
        created = await session.admin.create_key(
            description=args.description, tags=tags or None, name=args.name
        )
    record = key_from_metadata(created)
    if ctx.out.json:
        ctx.out.document(record)
    else:
        _show_key(ctx.out, record)
    return 0


# --- enable, disable, undelete ------------------------------------------------------------------


async def _current(session: Session, key_id: str, metadata: Any) -> dict[str, Any]:
    """The key after a change: the answer's metadata, or described when the server sent none."""
    if metadata is None:
        metadata = (await session.admin.describe_key(key_id)).metadata
    return {"key": key_from_metadata(metadata)}


def _render_state(out: Output, result: dict[str, Any]) -> None:
    key = result["key"]
    out.line(f"{key['key_id']}  ", out.state(key["state"]))


async def run_enable(ctx: Context) -> int:
    """Enable every key named."""

    async def enable(session: Session, key_id: str) -> dict[str, Any]:
        return await _current(session, key_id, await session.admin.enable_key(key_id))

    async with ctx.session() as session:
        return await run_bulk(session, ctx.out, ctx.args.key_ids, enable, _render_state)


async def run_disable(ctx: Context) -> int:
    """Disable every key named."""

    async def disable(session: Session, key_id: str) -> dict[str, Any]:
        return await _current(session, key_id, await session.admin.disable_key(key_id))

    async with ctx.session() as session:
        return await run_bulk(session, ctx.out, ctx.args.key_ids, disable, _render_state)


async def run_undelete(ctx: Context) -> int:
    """Cancel the scheduled deletion of every key named (they come back Enabled)."""

    async def undelete(session: Session, key_id: str) -> dict[str, Any]:
        return await _current(session, key_id, await session.admin.cancel_key_deletion(key_id))

    async with ctx.session() as session:
        return await run_bulk(session, ctx.out, ctx.args.key_ids, undelete, _render_state)


# --- delete ------------------------------------------------------------------------------------


async def _buckets_naming(session: Session, key_id: str, report: Any) -> list[str]:
    """Buckets whose default encryption names ``key_id``: from the server's impact report, or
    read bucket by bucket with the S3 client when the server's report does not cover them."""
    if report is not None and BUCKET_KIND not in report.coverage.not_scanned:
        return [ref.id for ref in report.references if ref.kind == BUCKET_KIND]
    from kms_tui.commands.buckets import bucket_defaults

    return [
        row.name
        for row in await bucket_defaults(session.buckets)
        if row.encryption is not None
        and row.encryption.is_sse_kms
        and row.encryption.kms_key_id == key_id
    ]


def _render_deletion(out: Output, result: dict[str, Any]) -> None:
    key = result["key"]
    out.line(
        f"{key['key_id']}  ",
        out.state(key["state"]),
        f"  deletion {result['deletion_date'] or '-'}",
    )
    if result["buckets"]:
        out.line(
            ("  still named by the default encryption of: ", Style.WARN),
            ", ".join(result["buckets"]),
        )


async def _confirm_deletion(
    ctx: Context, session: Session, key_ids: Sequence[str]
) -> tuple[list[str], list[tuple[str, BaseException]]]:
    """On a terminal: show each key and the buckets naming it, then ask for the typed id
    (or the number of keys). Keys that cannot be described are left out, as failures."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    out = ctx.out
    chosen: list[str] = []
    missing: list[tuple[str, BaseException]] = []
    for key_id in key_ids:
        try:
            described = await session.admin.describe_key(key_id, impact=True)
        except KmsTransportError:
            raise
        except (KmsError, ValueError) as err:
            missing.append((key_id, err))
            continue
        chosen.append(key_id)
        buckets = await _buckets_naming(session, key_id, described.impact)
        state = described.metadata.key_state.value
        line = f"{key_id} ({state})"
        if buckets:
            line += f": still named by the default encryption of {', '.join(buckets)}"
        out.message(f"will schedule deletion in {ctx.args.days} days: {line}")
    if not chosen:
        return chosen, missing
    if len(chosen) == 1:
        await ask_typed(out, f"Type the key id ({chosen[0]}) to confirm", chosen[0])
    else:
        count = str(len(chosen))
        await ask_typed(out, f"Type the number of keys ({count}) to confirm", count)
    return chosen, missing


async def run_delete(ctx: Context) -> int:
    """Schedule deletion; prints each key's deletion date and the buckets that still name it."""
    days: int = ctx.args.days

    async def delete(session: Session, key_id: str) -> dict[str, Any]:
        deletion = await session.admin.schedule_key_deletion(key_id, pending_window_in_days=days)
        described = await session.admin.describe_key(key_id)
        return {
            "key": key_from_metadata(described.metadata),
            "deletion_date": iso(deletion.deletion_date),
            "impact": impact_record(deletion.impact),
            "buckets": await _buckets_naming(session, key_id, deletion.impact),
        }

    async with ctx.session() as session:
        key_ids: Sequence[str] = ctx.args.key_ids
        missing: list[tuple[str, BaseException]] = []
        if not ctx.args.yes and interactive():
            key_ids, missing = await _confirm_deletion(ctx, session, key_ids)
        return await run_bulk(
            session, ctx.out, key_ids, delete, _render_deletion, failed_before=missing
        )
