"""The bucket store: names, persistence, file modes, atomic writes and key references."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from kms_tui.embedded.buckets import (
    SSE_AES256,
    SSE_KMS,
    BucketExistsError,
    BucketNotFoundError,
    BucketStore,
    is_valid_bucket_name,
)
from kms_tui.embedded.service_keys import BucketReferences


@pytest.fixture
def store(tmp_path: Path) -> BucketStore:
    bucket_store = BucketStore(tmp_path / "data")
    bucket_store.load()
    return bucket_store


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket", "my.bucket.01", "a" * 63, "0bucket9", "bucket-with-dots.and-dashes"],
)
def test_valid_bucket_names(name: str) -> None:
    assert is_valid_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper",
        "under_score",
        "-leading",
        "trailing-",
        ".dot",
        "dot.",
        "two..dots",
        "dot.-dash",
        "dash-.dot",
        "192.168.1.1",
        "xn--punycode",
        "sthree-bucket",
        "name-s3alias",
        "name--ol-s3",
        "space here",
        "",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    assert not is_valid_bucket_name(name)


def test_create_list_get_delete(store: BucketStore) -> None:
    store.create("zeta")
    created = store.create("alpha")
    assert created.sse_algorithm is None and created.kms_key_id is None
    assert [record.name for record in store.list_buckets()] == ["alpha", "zeta"]
    assert store.get("alpha") == created
    store.delete("alpha")
    assert store.get("alpha") is None
    assert [record.name for record in store.list_buckets()] == ["zeta"]


def test_duplicate_and_missing(store: BucketStore) -> None:
    store.create("dup")
    with pytest.raises(BucketExistsError):
        store.create("dup")
    with pytest.raises(BucketNotFoundError):
        store.delete("absent")
    with pytest.raises(BucketNotFoundError):
        store.set_encryption("absent", SSE_AES256, None)
    with pytest.raises(BucketNotFoundError):
        store.clear_encryption("absent")


def test_invalid_name_and_algorithm_refused(store: BucketStore) -> None:
    with pytest.raises(ValueError):
        store.create("Bad_Name")
    store.create("good")
    with pytest.raises(ValueError):
        store.set_encryption("good", "aws:kms:dsse", None)


def test_persisted_across_instances(tmp_path: Path, store: BucketStore) -> None:
    store.create("kept")
    store.set_encryption("kept", SSE_KMS, "key-1")
    store.create("plain")
    reopened = BucketStore(tmp_path / "data")
    reopened.load()
    assert reopened.list_buckets() == store.list_buckets()
    kept = reopened.get("kept")
    assert kept is not None and (kept.sse_algorithm, kept.kms_key_id) == (SSE_KMS, "key-1")


def test_file_format_and_modes(store: BucketStore) -> None:
    store.create("moded")
    store.set_encryption("moded", SSE_KMS, "k")
    path = store.directory / "moded.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["name"] == "moded"
    assert data["sse_algorithm"] == SSE_KMS and data["kms_key_id"] == "k"
    assert data["created_at"].endswith("+00:00[UTC]")
    assert [entry.name for entry in store.directory.iterdir()] == ["moded.json"]


def test_wide_directory_is_narrowed(tmp_path: Path) -> None:
    bucket_dir = tmp_path / "data" / "buckets"
    bucket_dir.mkdir(parents=True, mode=0o755)
    bucket_dir.chmod(0o755)
    BucketStore(tmp_path / "data").load()
    assert stat.S_IMODE(bucket_dir.stat().st_mode) == 0o700


def test_load_removes_temp_files_and_skips_damaged(tmp_path: Path, store: BucketStore) -> None:
    store.create("good")
    (store.directory / "good.json.tmp-deadbeef").write_text("{partial")
    (store.directory / "broken.json").write_text("{not json")
    (store.directory / "renamed.json").write_text((store.directory / "good.json").read_text())
    reopened = BucketStore(tmp_path / "data")
    reopened.load()
    assert [record.name for record in reopened.list_buckets()] == ["good"]
    assert not (store.directory / "good.json.tmp-deadbeef").exists()


def test_failed_write_leaves_previous_file(
    store: BucketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create("safe")
    before = (store.directory / "safe.json").read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("kms_tui.embedded.buckets.os.fsync", failing_fsync)
    with pytest.raises(OSError):
        store.set_encryption("safe", SSE_AES256, None)
    monkeypatch.undo()
    assert (store.directory / "safe.json").read_bytes() == before
    assert [entry.name for entry in store.directory.iterdir()] == ["safe.json"]
    record = store.get("safe")
    assert record is not None and record.sse_algorithm is None


def test_encryption_set_clear_and_references(store: BucketStore) -> None:
    for name in ("one", "two", "three"):
        store.create(name)
    store.set_encryption("one", SSE_KMS, "shared")
    store.set_encryption("two", SSE_KMS, "shared")
    store.set_encryption("three", SSE_AES256, None)
    assert store.buckets_naming_key("shared") == ["one", "two"]
    assert store.buckets_naming_key("other") == []
    store.clear_encryption("one")
    store.clear_encryption("one")
    assert store.buckets_naming_key("shared") == ["two"]
    store.delete("two")
    assert store.buckets_naming_key("shared") == []


def test_store_satisfies_the_service_protocol(store: BucketStore) -> None:
    references: BucketReferences = store
    store.create("refers")
    store.set_encryption("refers", SSE_KMS, "k1")
    assert references.buckets_naming_key("k1") == ["refers"]


def test_concurrent_creates_from_threads(tmp_path: Path, store: BucketStore) -> None:
    names = [f"bucket-{index:03d}" for index in range(40)]
    errors: list[BaseException] = []

    def worker(chunk: list[str]) -> None:
        try:
            for name in chunk:
                store.create(name)
                store.set_encryption(name, SSE_KMS, "k")
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(names[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.buckets_naming_key("k") == sorted(names)
    reopened = BucketStore(tmp_path / "data")
    reopened.load()
    assert [record.name for record in reopened.list_buckets()] == sorted(names)
