"""``kms-tui status``: the service state, and when it runs, backend health, cache and capabilities.

JSON: ``{"server", "profile", "read_only", "service": {"state", "error", "backend", "healthy",
"default_key_id"}, "kms": null | {"backend", "backend_status", "default_key_id",
"cache_enabled", "cache": null | {"hits", "misses", "entries", "evictions", "hit_ratio"},
"capabilities": null | {name: bool}, "cluster": null | {"consistent", "nodes": [{"host",
"fingerprint", "error"}]}}}``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from kms_tui.commands.runner import Context

if TYPE_CHECKING:
    from kms_tui.api.service_models import KmsStatus, ServiceStatus

__all__ = ["run_status"]


def service_record(status: ServiceStatus) -> dict[str, Any]:
    summary = status.config_summary
    return {
        "state": status.state.value,
        "error": status.error_message,
        "backend": status.backend_type.value if status.backend_type is not None else None,
        "healthy": status.healthy,
        "default_key_id": summary.default_key_id if summary is not None else None,
    }


def kms_record(kms: KmsStatus) -> dict[str, Any]:
    stats = kms.cache_stats
    cluster = kms.cluster_config
    return {
        "backend": kms.backend_type.value,
        "backend_status": kms.backend_status.value,
        "default_key_id": kms.default_key_id,
        "cache_enabled": kms.cache_enabled,
        "cache": None
        if stats is None
        else {
            "hits": stats.hit_count,
            "misses": stats.miss_count,
            "entries": stats.entry_count,
            "evictions": stats.eviction_count,
            "hit_ratio": stats.hit_ratio,
        },
        "capabilities": None if kms.capabilities is None else dataclasses.asdict(kms.capabilities),
        "cluster": None
        if cluster is None
        else {
            "consistent": cluster.consistent,
            "nodes": [
                {"host": node.host, "fingerprint": node.fingerprint, "error": node.error}
                for node in cluster.nodes
            ],
        },
    }


async def run_status(ctx: Context) -> int:
    """Print the service status (and ``/kms/status`` while the service runs)."""
    from kms_tui.api.wire import ServiceState

    async with ctx.session() as session:
        service = await session.admin.service_status()
        kms = await session.admin.status() if service.state is ServiceState.RUNNING else None
        doc: dict[str, Any] = {
            "server": session.endpoint,
            "profile": session.connection.name,
            "read_only": session.connection.read_only,
            "service": service_record(service),
            "kms": kms_record(kms) if kms is not None else None,
        }
        label = session.label
    out = ctx.out
    if out.json:
        out.document(doc)
        return 0
    svc = doc["service"]
    state = svc["state"] + (f": {svc['error']}" if svc["error"] else "")
    pairs: list[tuple[str, Any]] = [
        ("server", label + ("  (read-only)" if doc["read_only"] else "")),
        ("state", state),
        ("backend", svc["backend"]),
        ("healthy", svc["healthy"]),
    ]
    if kms is not None:
        info = doc["kms"]
        pairs.append(("backend status", info["backend_status"]))
        pairs.append(("default key", info["default_key_id"]))
        cache = info["cache"]
        if cache is not None:
            ratio = cache["hit_ratio"]
            pairs.append(
                (
                    "cache",
                    f"{cache['entries']} entries, {cache['hits']} hits, {cache['misses']} misses"
                    + (f" ({ratio:.0%} hits)" if ratio is not None else ""),
                )
            )
        caps = info["capabilities"]
        if caps is not None:
            pairs.append(("can", ", ".join(name for name, on in caps.items() if on) or "-"))
        cluster = info["cluster"]
        if cluster is not None:
            pairs.append(
                (
                    "cluster",
                    f"{len(cluster['nodes'])} nodes, "
                    + ("consistent" if cluster["consistent"] else "configurations differ"),
                )
            )
    else:
        pairs.append(("default key", svc["default_key_id"]))
    out.fields(pairs)
    return 0
