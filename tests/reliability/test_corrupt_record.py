"""A damaged key record is reported, clearly, and never takes the other keys down with it.

Real records written by the server are damaged on disk in every way we can think of (cut short,
emptied, overwritten with binary junk, valid JSON of the wrong shape, a wrong field type, another
key's identity, a future format version, tampered ciphertext). After a restart of the KMS the
listing names them in ``unreadable_key_ids`` (and the client's ``KeyPage`` carries them), every
call on a damaged key answers with a readable error naming the key and the reason (no generic
"internal error", no traceback), and the healthy keys keep describing, wrapping data keys and
changing state.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsBackendError, KmsConflict, KmsError
from tests.fakes.embedded import admin_client, local_config, running_server, signed_http

pytestmark = pytest.mark.slow

# Healthy ids interleave with the damaged ones, so pages cut through both.
HEALTHY = ("alpha-healthy", "broken-h-but-healthy", "zulu-healthy")


def _rewrite(mutate: Callable[[dict[str, object]], None]) -> Callable[[bytes], bytes]:
    def corrupt(raw: bytes) -> bytes:
        document = json.loads(raw)
        mutate(document)
        return json.dumps(document, indent=2).encode()

    return corrupt


def _tamper(document: dict[str, object]) -> None:
    sealed = bytearray(base64.b64decode(str(document["encrypted_key_material"])))
    sealed[0] ^= 0x01
    document["encrypted_key_material"] = base64.b64encode(bytes(sealed)).decode()


# key id -> (how its file is damaged, the reason the server gives for it)
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "broken-truncated": (lambda raw: raw[: len(raw) // 2], "corrupt"),
    "broken-empty": (lambda raw: b"", "corrupt"),
    "broken-garbage": (lambda raw: b"\x00\xff\xfe\x80 not a record \xc3\x28" * 20, "corrupt"),
    "broken-json-list": (lambda raw: b"[1, 2, 3]", "corrupt"),
    "broken-wrong-type": (_rewrite(lambda d: d.update(status=42)), "corrupt"),
    "broken-missing-field": (_rewrite(lambda d: d.pop("created_at")), "corrupt"),
    "broken-identity": (_rewrite(lambda d: d.update(key_id="alpha-healthy")), "identity-mismatch"),
    "broken-version": (
        _rewrite(lambda d: d.update(format_version=99)),
        "unsupported-format-version",
    ),
    "broken-tampered": (_rewrite(_tamper), "authentication-failed"),
}
BROKEN = tuple(sorted(DAMAGE))


async def _seed_and_damage(client: KmsAdminClient, key_dir: Path) -> None:
    await client.configure(local_config(key_dir))
    await client.start()
    for key_id in (*HEALTHY, *BROKEN):
        await client.create_key(name=key_id, description=f"{key_id} description")
    for key_id, (damage, _reason) in DAMAGE.items():
        path = key_dir / f"{key_id}.key"
        path.write_bytes(damage(path.read_bytes()))
    result = await client.start(force=True)  # the console's restart: the index is re-read
    assert result.success, result


async def _all_pages(client: KmsAdminClient, page_size: int) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    unreadable: list[str] = []
    async for page in client.iter_keys(page_size=page_size):
        keys += [info.key_id for info in page.keys]
        unreadable += list(page.unreadable_key_ids)
    return keys, unreadable


async def test_damaged_records_are_listed_unreadable_and_healthy_keys_keep_working(
    tmp_path: Path,
) -> None:
    """The whole story over loopback with the real client."""
    key_dir = tmp_path / "keys"
    log_file = tmp_path / "server.log"
    with running_server(tmp_path / "data", log_file=log_file) as server:
        async with admin_client(server.endpoint) as client:
            await _seed_and_damage(client, key_dir)

            page = await client.list_keys()
            assert [info.key_id for info in page.keys] == list(HEALTHY)
            assert page.unreadable_key_ids == BROKEN
            for page_size in (1, 2, 5):  # each damaged id is reported once, on its page
                keys, unreadable = await _all_pages(client, page_size)
                assert keys == list(HEALTHY) and unreadable == list(BROKEN), page_size

            for key_id, (_damage, reason) in DAMAGE.items():
                with pytest.raises(KmsBackendError) as described:  # what the console gets
                    await client.describe_key(key_id)
                assert described.value.status == 500
                assert described.value.message == (
                    f"Failed to describe key: Key material missing/corrupt/authentication "
                    f"failed for {key_id}: the record on disk is unreadable ({reason})"
                )
                with pytest.raises(KmsError, match=f"{key_id}: the record on disk is unread"):
                    await client.generate_data_key(key_id)
                with pytest.raises(KmsError, match=f"{key_id}: the record on disk is unread"):
                    await client.schedule_key_deletion(key_id)
                with pytest.raises(KmsError, match=f"{key_id}: the record on disk is unread"):
                    await client.tag_key(key_id, {"team": "x"})
                with pytest.raises(KmsConflict):  # the name stays taken by the damaged file
                    await client.create_key(name=key_id)

            for key_id in HEALTHY:
                described = await client.describe_key(key_id, impact=True)
                assert described.metadata.description == f"{key_id} description"
                data_key = await client.generate_data_key(key_id)
                assert (await client.decrypt(data_key.ciphertext_blob)).plaintext == (
                    data_key.plaintext
                )
                assert (await client.tag_key(key_id, {"team": "blue"})) is not None
                deletion = await client.schedule_key_deletion(key_id, pending_window_in_days=7)
                assert deletion.deletion_date is not None
                assert (await client.cancel_key_deletion(key_id)).key_state.value == "Enabled"
            created = await client.create_key(name="healthy-new")
            assert created.key_id == "healthy-new"

        async with signed_http(server.endpoint) as http:
            await _assert_raw_answers(http)

    for key_id in DAMAGE:
        assert key_dir.joinpath(f"{key_id}.key").exists(), "a damaged record must be kept"
    log = log_file.read_text("utf-8")
    for key_id, (_damage, reason) in DAMAGE.items():
        assert f"key record '{key_id}' in {key_dir} is unreadable ({reason})" in log
    assert "Traceback" not in log


async def _assert_raw_answers(http: httpx.AsyncClient) -> None:
    """The wire: the E2 describe error and both listing routes, as any client sees them."""
    answer = await http.get("/rustfs/admin/v3/kms/keys/broken-garbage")
    assert answer.status_code == 500
    body = answer.json()
    assert body["success"] is False and body["key_metadata"] is None
    assert body["error"]["code"] == "InternalError"
    assert "broken-garbage: the record on disk is unreadable (corrupt)" in body["message"]
    assert "internal error" not in answer.text.lower() and "Traceback" not in answer.text

    listed = (await http.get("/rustfs/admin/v3/kms/keys")).json()
    assert listed["unreadable_key_ids"] == list(BROKEN)
    legacy = await http.get("/minio/admin/v3/kms/list-keys", params={"limit": "2"})
    assert legacy.status_code == 200
    first = legacy.json()  # the page ends at "broken-h-but-healthy": two damaged ids sort before
    assert first["truncated"] is True
    assert first["unreadable_key_ids"] == ["broken-empty", "broken-garbage"]

    legacy_describe = await http.get(
        "/rustfs/admin/v3/kms/describe-key", params={"keyId": "broken-tampered"}
    )
    assert legacy_describe.status_code == 500
    assert "broken-tampered: the record on disk is unreadable (authentication-failed)" in (
        legacy_describe.text
    )
