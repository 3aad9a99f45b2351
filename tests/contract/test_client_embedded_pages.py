"""Key listing across pages (§8), real client and server: 2,500 keys, filters after the cut."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_tui.embedded import timefmt
from kms_tui.embedded.keyrecord import KeyRecord
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.embedded import admin_client, local_config, running_server, signed_http

KEY_COUNT = 2500
# Mixed prefixes so byte order (upper case < '_' < lower case) differs from a naive numeric order.
PREFIXES = ("a", "Z", "_m", "B", "k")
DISABLED_FROM = 2200  # in byte order: only keys past the first two 1,000-key pages are Disabled


def _key_ids() -> list[str]:
    return [f"{PREFIXES[i % len(PREFIXES)]}-{i:05d}" for i in range(KEY_COUNT)]


def _byte_order(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda key_id: key_id.encode())


async def _configure(server: EmbeddedServer, key_dir: Path) -> None:
    async with admin_client(server.endpoint) as client:
        await client.configure(local_config(key_dir))
        await client.start()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A running server whose store holds 2,500 keys (seeded in bulk, read over HTTP)."""
    base = tmp_path_factory.mktemp("h5-pages")
    with running_server(base / "data") as server:
        asyncio.run(_configure(server, base / "keys"))
        ordered = _byte_order(_key_ids())
        created = timefmt.format_zoned(timefmt.utc_now())
        store = server.service.keys.require_store()
        store.create_many(
            KeyRecord(
                key_id=key_id,
                material=store.generate_material(),
                status="Disabled" if index >= DISABLED_FROM else "Active",
                metadata={"name": key_id},
                created_at=created,
            )
            for index, key_id in enumerate(ordered)
        )
        yield server


async def test_iter_keys_yields_three_pages_with_every_id_once_in_byte_order(
    seeded: EmbeddedServer,
) -> None:
    async with admin_client(seeded.endpoint) as client:
        pages = [page async for page in client.iter_keys(page_size=1000)]
    ids = [info.key_id for page in pages for info in page.keys]
    assert [len(page.keys) for page in pages] == [1000, 1000, 500]
    assert [page.truncated for page in pages] == [True, True, False]
    assert pages[0].next_marker == ids[999] and pages[1].next_marker == ids[1999]
    assert pages[2].next_marker is None
    assert ids == _byte_order(_key_ids())
    assert len(set(ids)) == KEY_COUNT


async def test_a_smaller_first_page_then_full_pages(seeded: EmbeddedServer) -> None:
    async with admin_client(seeded.endpoint) as client:
        pages = [p async for p in client.iter_keys(page_size=1000, first_page_size=100)]
        with pytest.raises(ValueError, match="first_page_size"):
            _ = [p async for p in client.iter_keys(first_page_size=0)]
    assert [len(page.keys) for page in pages] == [100, 1000, 1000, 400]
    ids = [info.key_id for page in pages for info in page.keys]
    assert ids == _byte_order(_key_ids())


async def test_limit_above_1000_is_served_as_1000_and_default_is_100(
    seeded: EmbeddedServer,
) -> None:
    async with admin_client(seeded.endpoint) as client:
        big = await client.list_keys(limit=5000)
        default = await client.list_keys()
        after = await client.list_keys(limit=3, marker=default.next_marker)
    ordered = _byte_order(_key_ids())
    assert len(big.keys) == 1000 and big.truncated
    assert [k.key_id for k in default.keys] == ordered[:100]
    assert [k.key_id for k in after.keys] == ordered[100:103]


async def _filtered_pages(http: Any, route: str, status: str) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params = {"limit": "1000", "status": status}
    while True:
        answer = await http.get(f"/rustfs/admin/v3{route}", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body)
        if not body["truncated"]:
            return pages
        params = {"limit": "1000", "status": status, "marker": body["next_marker"]}


@pytest.mark.parametrize("route", ["/kms/keys", "/kms/list-keys"])
async def test_status_filter_applies_after_the_cut(seeded: EmbeddedServer, route: str) -> None:
    async with signed_http(seeded.endpoint) as http:
        disabled = await _filtered_pages(http, route, "Disabled")
        active = await _filtered_pages(http, route, "active")
    ordered = _byte_order(_key_ids())
    # The first two pages hold no Disabled key, yet the listing goes on.
    assert [len(page["keys"]) for page in disabled] == [0, 0, KEY_COUNT - DISABLED_FROM]
    assert [page["truncated"] for page in disabled] == [True, True, False]
    assert disabled[0]["next_marker"] == ordered[999]
    assert [k["key_id"] for k in disabled[2]["keys"]] == ordered[DISABLED_FROM:]
    assert [len(page["keys"]) for page in active] == [1000, 1000, DISABLED_FROM - 2000]
    assert all(k["status"] == "Active" for page in active for k in page["keys"])


@pytest.mark.parametrize(
    ("query", "route"),
    [
        ({"limit": "abc"}, "/kms/keys"),
        ({"limit": "-1"}, "/kms/keys"),
        ({"limit": ""}, "/kms/keys"),
        ({"status": "Gone"}, "/kms/keys"),
        ({"usage": ""}, "/kms/keys"),
        ({"limit": "1.5"}, "/kms/list-keys"),
    ],
)
async def test_bad_list_queries_are_400_in_the_route_family(
    seeded: EmbeddedServer, query: dict[str, str], route: str
) -> None:
    async with signed_http(seeded.endpoint) as http:
        answer = await http.get(f"/rustfs/admin/v3{route}", params=query)
    assert answer.status_code == 400
    if route == "/kms/keys":
        assert answer.json()["success"] is False
    else:
        assert answer.headers["content-type"] == "application/xml"
        assert "<Code>InvalidArgument</Code>" in answer.text
