"""``kms-tui keys impact KEY_ID [--objects]``: what still uses a key.

JSON: ``{"key": <key>, "default_key": bool, "server_impact": null | {"completeness",
"references", "not_scanned"}, "bucket_defaults": [{"bucket", "algorithm", "kms_key_id",
"via_default_key"}], "objects": null | {"count", "bytes", "by_bucket": {bucket: count},
"listed", "scanned", "partial", "errors"}}``. ``bucket_defaults`` counts a bucket whose default
is SSE-S3 (or SSE-KMS without a key) when the key is the KMS default key (``via_default_key``).
With ``--objects`` every object of every bucket is listed and HEADed (progress on a terminal);
Ctrl-C prints what was found so far, marked partial, and exits 130.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kms_tui.commands.buckets import bucket_defaults, default_key_id
from kms_tui.commands.output import Output, Style
from kms_tui.commands.records import impact_record, key_from_metadata
from kms_tui.commands.runner import Context

if TYPE_CHECKING:
    from kms_tui.api.impact import ScanProgress, ScanResult

__all__ = ["run_impact"]


def _objects_record(result: ScanResult, key_id: str) -> dict[str, Any]:
    from kms_tui.api.impact import bucket_counts

    impact = result.impact(key_id)
    return {
        "count": impact.object_count,
        "bytes": impact.bytes,
        "by_bucket": dict(bucket_counts(impact.objects)),
        "listed": result.listed,
        "scanned": result.scanned,
        "partial": result.partial,
        "errors": list(result.errors),
    }


def _render(out: Output, doc: dict[str, Any]) -> None:
    key = doc["key"]
    out.line(
        f"{key['key_id']}  ",
        out.state(key["state"]),
        ("  (the KMS default key)", Style.WARN) if doc["default_key"] else "",
    )
    defaults = doc["bucket_defaults"]
    if defaults:
        for item in defaults:
            how = " (through the default key)" if item["via_default_key"] else ""
            out.line(f"bucket {item['bucket']}: default encryption {item['algorithm']}{how}")
    else:
        out.line(("no bucket's default encryption uses this key", Style.DIM))
    server = doc["server_impact"]
    if server is not None:
        for ref in server["references"]:
            if ref["kind"] != "bucket-default-encryption":
                out.line(f"{ref['kind']} {ref['id']}: {ref['detail']}")
    objects = doc["objects"]
    if objects is not None:
        at_least = "at least " if objects["partial"] else ""
        out.line(
            f"{at_least}{objects['count']:,} object(s), {objects['bytes']:,} bytes, become "
            "unreadable when this key is deleted"
        )
        for bucket, count in objects["by_bucket"].items():
            out.line(f"  {bucket}: {count:,}")
        for error in objects["errors"]:
            out.line(("  not read: ", Style.WARN), error)


def _progress(out: Output) -> Any:
    def show(progress: ScanProgress) -> None:
        total = f"/{progress.listed:,}" if progress.listing_done else f" of {progress.listed:,}+"
        out.progress(
            f"scanning objects: {progress.scanned:,}{total} "
            f"(bucket {progress.buckets_done}/{progress.buckets_total})"
        )

    return show


async def run_impact(ctx: Context) -> int:
    """The server's impact report, the bucket defaults, and with ``--objects`` every object."""
    from kms_tui.api.impact import ImpactScan, default_names_key

    key_id: str = ctx.args.key_id
    out = ctx.out
    async with ctx.session() as session:
        described = await session.admin.describe_key(key_id, impact=True)
        default_key = await default_key_id(session.admin)
        doc: dict[str, Any] = {
            "key": key_from_metadata(described.metadata),
            "default_key": default_key == key_id,
            "server_impact": impact_record(described.impact),
            "bucket_defaults": [],
            "objects": None,
        }
        if not ctx.args.objects:
            for row in await bucket_defaults(session.buckets):
                if row.encryption is None:
                    continue
                uses, via_default = default_names_key(
                    row.encryption.algorithm, row.encryption.kms_key_id, key_id, default_key
                )
                if uses:
                    doc["bucket_defaults"].append(
                        {
                            "bucket": row.name,
                            "algorithm": row.encryption.algorithm,
                            "kms_key_id": row.encryption.kms_key_id,
                            "via_default_key": via_default,
                        }
                    )
        else:
            scan = ImpactScan(
                session.buckets, [key_id], default_key_id=default_key, on_progress=_progress(out)
            )
            try:
                result = await scan.run()
            except asyncio.CancelledError:
                _fill_scan(doc, scan.result, key_id)
                _emit(out, doc)
                raise
            _fill_scan(doc, result, key_id)
    _emit(out, doc)
    return 0


def _fill_scan(doc: dict[str, Any], result: ScanResult, key_id: str) -> None:
    doc["bucket_defaults"] = [
        {
            "bucket": item.bucket,
            "algorithm": item.algorithm,
            "kms_key_id": item.kms_key_id,
            "via_default_key": item.via_default_key,
        }
        for item in result.impact(key_id).bucket_defaults
    ]
    doc["objects"] = _objects_record(result, key_id)


def _emit(out: Output, doc: dict[str, Any]) -> None:
    if out.json:
        out.document(doc)
    else:
        _render(out, doc)
