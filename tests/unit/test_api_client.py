"""Client checks before sending, and the pagination loop against scripted pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kms_tui.api.admin import KmsAdminClient, validate_key_id
from kms_tui.api.errors import KmsResponseError

NOW = "2026-01-01T00:00:00.5+00:00[UTC]"


def item(key_id: str) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "description": None,
        "algorithm": "AES_256",
        "usage": "EncryptDecrypt",
        "status": "Active",
        "version": 1,
        "metadata": {},
        "tags": {},
        "created_at": NOW,
        "rotated_at": None,
        "created_by": "local-kms",
        "rotation_due": False,
    }


def page(ids: list[str], truncated: bool, next_marker: str | None) -> dict[str, Any]:
    return {
        "success": True,
        "message": "keys listed successfully",
        "keys": [item(i) for i in ids],
        "truncated": truncated,
        "next_marker": next_marker,
    }


class Pages:
    """Serves scripted list pages and remembers every request."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests) - 1, len(self.pages) - 1)
        return httpx.Response(200, json=self.pages[index])

    @property
    def markers(self) -> list[str | None]:
        return [r.url.params.get("marker") for r in self.requests]


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., KmsAdminClient]]:
    clients: list[KmsAdminClient] = []

    def build(handler: Callable[[httpx.Request], httpx.Response] | None = None) -> KmsAdminClient:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise AssertionError(f"nothing should be sent, got {request.method} {request.url}")

        transport = httpx.MockTransport(handler or refuse)
        client = KmsAdminClient(
            "http://127.0.0.1:9", "ak", "sk", transport=transport, backoff_base=0.001
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def collect(client: KmsAdminClient, page_size: int = 2) -> list[list[str]]:
    return [[k.key_id for k in p.keys] async for p in client.iter_keys(page_size=page_size)]


# --- pagination ----------------------------------------------------------------------------


async def test_follows_several_pages(make_client: Callable[..., KmsAdminClient]) -> None:
    pages = Pages(
        [page(["a", "b"], True, "b"), page(["c", "d"], True, "d"), page(["e"], False, None)]
    )
    assert await collect(make_client(pages)) == [["a", "b"], ["c", "d"], ["e"]]
    assert pages.markers == [None, "b", "d"]
    assert {r.url.params["limit"] for r in pages.requests} == {"2"}


async def test_empty_truncated_page_does_not_stop(
    make_client: Callable[..., KmsAdminClient],
) -> None:
    pages = Pages([page(["a"], True, "b"), page([], True, "d"), page(["e"], False, None)])
    assert await collect(make_client(pages)) == [["a"], [], ["e"]]
    assert pages.markers == [None, "b", "d"]


async def test_repeating_marker_raises(make_client: Callable[..., KmsAdminClient]) -> None:
    pages = Pages([page(["a"], True, "a"), page(["b"], True, "b"), page(["b"], True, "a")])
    seen: list[list[str]] = []
    with pytest.raises(KmsResponseError, match="repeated the listing marker 'a'"):
        async for p in make_client(pages).iter_keys(page_size=1):
            seen.append([k.key_id for k in p.keys])
    assert seen == [["a"], ["b"], ["b"]]
    assert len(pages.requests) == 3


async def test_same_marker_forever_raises(make_client: Callable[..., KmsAdminClient]) -> None:
    pages = Pages([page(["a"], True, "a")])
    with pytest.raises(KmsResponseError):
        await collect(make_client(pages))
    assert len(pages.requests) == 2


async def test_truncated_without_marker_raises(
    make_client: Callable[..., KmsAdminClient],
) -> None:
    pages = Pages([page(["a"], True, None)])
    with pytest.raises(KmsResponseError, match="no next_marker"):
        await collect(make_client(pages))


async def test_single_page(make_client: Callable[..., KmsAdminClient]) -> None:
    pages = Pages([page([], False, None)])
    assert await collect(make_client(pages)) == [[]]


async def test_bad_page_size(make_client: Callable[..., KmsAdminClient]) -> None:
    client = make_client()
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="page_size"):
            await collect(client, page_size=bad)


# --- checks before sending -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "a\x00b", ".", "..", 7, None])
def test_validate_key_id_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="key_id"):
        validate_key_id(bad)


@pytest.mark.parametrize("good", ["k1", "rustfs-default", "a.b_c-d", "550e8400-e29b-41d4"])
def test_validate_key_id_accepts(good: str) -> None:
    assert validate_key_id(good) == good


KEY_METHODS: list[tuple[str, tuple[Any, ...]]] = [
    ("describe_key", ()),
    ("schedule_key_deletion", ()),
    ("delete_key_immediately", ()),
    ("cancel_key_deletion", ()),
    ("enable_key", ()),
    ("disable_key", ()),
    ("rotate_key", ()),
    ("update_key_description", ("d",)),
    ("tag_key", ({"a": "b"},)),
    ("untag_key", (["a"],)),
    ("generate_data_key", ()),
]


@pytest.mark.parametrize(("method", "extra"), KEY_METHODS, ids=[m for m, _ in KEY_METHODS])
@pytest.mark.parametrize("bad_id", ["", "../etc", "a\\b", "nul\x00"])
async def test_every_key_method_checks_the_id(
    make_client: Callable[..., KmsAdminClient], method: str, extra: tuple[Any, ...], bad_id: str
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="key_id"):
        await getattr(client, method)(bad_id, *extra)


@pytest.mark.parametrize("days", [6, 31, 0, -7, True, 7.5, "30"])
async def test_pending_window_range(
    make_client: Callable[..., KmsAdminClient], days: object
) -> None:
    with pytest.raises(ValueError, match="pending_window_in_days"):
        await make_client().schedule_key_deletion("k", pending_window_in_days=days)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["AES_256", "aes256", "Aes512", "", 256])
async def test_unknown_key_spec(make_client: Callable[..., KmsAdminClient], spec: object) -> None:
    with pytest.raises(ValueError, match="key_spec"):
        await make_client().generate_data_key("k", key_spec=spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.tag_key("k", {"a": 1}), "tags"),
        (lambda c: c.tag_key("k", {1: "a"}), "tags"),
        (lambda c: c.tag_key("k", ["a"]), "tags"),
        (lambda c: c.tag_key("k", {"name": "x"}), "tags"),
        (lambda c: c.untag_key("k", ["name"]), "tag_keys"),
        (lambda c: c.untag_key("k", [1]), "tag_keys"),
        (lambda c: c.untag_key("k", "a"), "tag_keys"),
        (lambda c: c.create_key(tags={"a": None}), "tags"),
        (lambda c: c.create_key(name=""), "name"),
        (lambda c: c.create_key(name="a/b"), "name"),
        (lambda c: c.create_key(name="a", tags={"name": "b"}), "name"),
        (lambda c: c.create_key(tags={"name": "x/y"}), "tags"),
        (lambda c: c.create_key(description=5), "description"),
        (lambda c: c.update_key_description("k", None), "description"),
        (lambda c: c.generate_data_key("k", encryption_context={"a": 1}), "encryption_context"),
        (lambda c: c.decrypt(b""), "ciphertext_blob"),
        (lambda c: c.decrypt("text"), "ciphertext_blob"),
        (lambda c: c.decrypt(b"x", encryption_context={"a": 2}), "encryption_context"),
        (lambda c: c.list_keys(limit=-1), "limit"),
        (lambda c: c.create_backup("../x"), "backup_id"),
        (lambda c: c.create_backup(".hidden"), "backup_id"),
        (lambda c: c.restore_dry_run(""), "bundle"),
        (lambda c: c.restore_dry_run("b", observed_generation=-1), "observed_generation"),
        (
            lambda c: c.restore("b", confirm_backup_id="", confirm_conflict_policy="fail"),
            "confirm_backup_id",
        ),
        (
            lambda c: c.restore("b", confirm_backup_id="x", confirm_conflict_policy="merge"),
            "confirm_conflict_policy",
        ),
        (lambda c: c.abort_restore(""), "confirm_target_key_dir"),
    ],
)
async def test_other_checks_before_sending(
    make_client: Callable[..., KmsAdminClient], call: Callable[[KmsAdminClient], Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        await call(make_client())


async def test_create_key_with_name_sends_the_name_tag(
    make_client: Callable[..., KmsAdminClient],
) -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        meta = {
            "key_id": "app-key",
            "key_state": "Enabled",
            "key_usage": "EncryptDecrypt",
            "description": None,
            "creation_date": NOW,
            "deletion_date": None,
            "origin": "KMS",
            "key_manager": "CUSTOMER",
            "tags": {"name": "app-key", "team": "a"},
        }
        return httpx.Response(
            200, json={"success": True, "key_id": "app-key", "key_metadata": meta}
        )

    key = await make_client(handler).create_key(name="app-key", tags={"team": "a"})
    assert sent == [{"key_usage": "EncryptDecrypt", "tags": {"team": "a", "name": "app-key"}}]
    assert key.name == "app-key"


def test_client_repr_has_no_secret() -> None:
    client = KmsAdminClient("http://127.0.0.1:9/", "ak", "TOP-SECRET", session_token="TOK")
    assert "TOP-SECRET" not in repr(client) and "TOK" not in repr(client)
    assert client.endpoint == "http://127.0.0.1:9"


def test_negative_retries_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        KmsAdminClient("http://127.0.0.1:9", "ak", "sk", retries=-1)


def test_unreadable_ca_bundle_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    for path in (bogus, tmp_path / "missing.pem"):
        with pytest.raises(ValueError, match="ca_bundle"):
            KmsAdminClient("https://127.0.0.1:9", "ak", "sk", verify=str(path))
