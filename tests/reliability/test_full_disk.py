"""A full disk makes writes fail with a clear 500 and costs nothing already stored.

``kms-tui serve`` runs inside its own mount namespace (``unshare --mount``) with its data and
key directories on a 512 KiB tmpfs mounted there, so nothing can leak onto the host: the mount
dies with the process. The test reaches that disk through ``/proc/<pid>/root``, fills it, and
checks that key and bucket writes answer 500 naming the lack of space (no traceback, no generic
"internal error"), a write cut short half way leaves the old record intact, the server keeps
serving every existing key, no temp file is left, a fresh key store reads every record back,
and writes work again once space is freed.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsBackendError, KmsError
from kms_tui.api.models import KeyMetadata
from kms_tui.embedded.keystore import LocalKeyStore
from tests.fakes.embedded import (
    ACCESS_KEY,
    MASTER_KEY,
    SECRET_KEY,
    admin_client,
    local_config,
    signed_http,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
DISK_SIZE = "512k"
SEEDED = tuple(f"seeded-{index:02d}" for index in range(12))
NO_SPACE = "No space left on device"
_MOUNT_FAILED = 97
_MOUNT_SCRIPT = (
    'mount -t tmpfs -o "size=$1,mode=0700" kms-tui-full-disk "$2" || exit '
    f'{_MOUNT_FAILED}; shift 2; exec "$@"'
)


@dataclass
class SmallDiskServer:
    """``kms-tui serve`` on a tmpfs in a private mount namespace."""

    process: subprocess.Popen[bytes]
    endpoint: str
    mount_point: Path  # the path inside the server's namespace
    stderr_path: Path

    @property
    def disk(self) -> Path:
        """The same directory seen from this process, through the server's root."""
        return Path(f"/proc/{self.process.pid}/root") / self.mount_point.relative_to("/")

    def log(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")


def _wait_for_listening(process: subprocess.Popen[bytes], timeout: float) -> str | None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(max(deadline - time.monotonic(), 0)):
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            for line in buffer.decode(errors="replace").splitlines():
                if line.startswith("listening on "):
                    return line.removeprefix("listening on ").strip()
    return None


@contextlib.contextmanager
def small_disk_server(tmp_path: Path) -> Iterator[SmallDiskServer]:
    """Start the server on its own tmpfs; fail (never skip) when the mount cannot be made."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("the full-disk test needs util-linux 'unshare' to mount a private tmpfs")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    stderr_path = tmp_path / "serve.stderr"
    serve = [sys.executable, "-m", "kms_tui", "serve", "--port", "0"]
    serve += ["--data-dir", str(mount_point / "data")]
    command = [unshare, "--mount", "--propagation", "private", "sh", "-c", _MOUNT_SCRIPT, "sh"]
    command += [DISK_SIZE, str(mount_point), *serve]
    env = dict(os.environ, RUSTFS_ACCESS_KEY=ACCESS_KEY, RUSTFS_SECRET_KEY=SECRET_KEY)
    with stderr_path.open("wb") as stderr_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr_file, cwd=REPO_ROOT, env=env
        )
    try:
        endpoint = _wait_for_listening(process, 30.0)
        if endpoint is None:
            code = process.poll()
            reason = (
                "mounting a tmpfs failed (the test needs root or CAP_SYS_ADMIN and 'unshare -m')"
                if code in (_MOUNT_FAILED, 1)
                else "kms-tui serve did not announce itself"
            )
            pytest.fail(f"{reason}; exit code {code}; stderr: {stderr_path.read_text()!r}")
        server = SmallDiskServer(process, endpoint, mount_point, stderr_path)
        mounts = Path(f"/proc/{process.pid}/mountinfo").read_text().splitlines()
        ours = [line for line in mounts if f" {mount_point} " in line]
        assert ours and " - tmpfs " in ours[-1], f"the server's disk is not our tmpfs: {ours}"
        assert f" {mount_point} " not in Path("/proc/self/mountinfo").read_text()
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    assert not any(mount_point.iterdir()), "the tmpfs contents leaked onto the host directory"


def fill(path: Path) -> None:
    """Append to ``path`` until the file system refuses another byte."""
    with path.open("ab", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    written = out.write(chunk)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    break
                if not written:
                    break


def _free_blocks(path: Path) -> int:
    return os.statvfs(path).f_bavail


def _temp_files(server: SmallDiskServer) -> list[str]:
    found = []
    for directory in (server.disk / "keys", server.disk / "data", server.disk / "data" / "buckets"):
        found += [name for name in os.listdir(directory) if ".tmp-" in name]
    return found


def _stored(server: SmallDiskServer) -> dict[str, tuple[str, str | None, dict[str, str]]]:
    """Every record as a fresh key store reads it from the disk: (status, description, tags)."""
    fresh = LocalKeyStore(server.disk / "keys", MASTER_KEY)
    fresh.open()
    try:
        assert fresh.unreadable_key_ids == [], fresh.unreadable_reasons
        return {
            key_id: (record.status, record.description, dict(record.metadata))
            for key_id in fresh.key_ids()
            for record in (fresh.get(key_id),)
        }
    finally:
        fresh.close()


def _assert_no_space(err: KmsError, prefix: str) -> None:
    assert isinstance(err, KmsBackendError) and err.status == 500, err
    assert err.message.startswith(prefix), err.message
    assert NO_SPACE in err.message, err.message
    assert "Traceback" not in err.message and "internal error" not in err.message.lower()


async def _everything_still_readable(
    client: KmsAdminClient, before: dict[str, KeyMetadata]
) -> None:
    status = await client.service_status()
    assert status.state.value == "Running" and status.healthy is True, status
    page = await client.list_keys()
    assert [info.key_id for info in page.keys] == sorted(before) and not page.unreadable_key_ids
    for key_id, metadata in before.items():
        assert (await client.describe_key(key_id)).metadata == metadata
        data_key = await client.generate_data_key(key_id)
        assert (await client.decrypt(data_key.ciphertext_blob)).plaintext == data_key.plaintext


@contextlib.asynccontextmanager
async def _clients(endpoint: str) -> AsyncIterator[tuple[KmsAdminClient, httpx.AsyncClient]]:
    async with admin_client(endpoint) as admin, signed_http(endpoint) as s3:
        yield admin, s3


async def test_full_disk_fails_writes_clearly_and_keeps_every_key(tmp_path: Path) -> None:
    """Fill the server's disk, check every kind of write and read, free it, write again."""
    with small_disk_server(tmp_path) as server:
        async with _clients(server.endpoint) as (client, s3):
            assert (await client.configure(local_config(server.mount_point / "keys"))).success
            assert (await client.start()).success
            for key_id in SEEDED:
                await client.create_key(name=key_id, description="seeded", tags={"team": "a"})
            assert (await s3.put("/seeded-bucket")).status_code == 200
            before = {k: (await client.describe_key(k)).metadata for k in SEEDED}
            stored_before = _stored(server)

            filler = server.disk / "filler"
            fill(filler)
            assert _free_blocks(server.disk) == 0

            with pytest.raises(KmsError) as refused:
                await client.create_key(name="too-late")
            _assert_no_space(refused.value, "failed to create key: Backend error: cannot write")
            with pytest.raises(KmsError) as refused:
                await client.tag_key(SEEDED[0], {"team": "b"})
            _assert_no_space(refused.value, "Failed to tag key: Backend error: cannot write")
            with pytest.raises(KmsError) as refused:
                await client.update_key_description(SEEDED[1], "changed")
            _assert_no_space(refused.value, "Failed to update key description: Backend error")
            with pytest.raises(KmsError) as refused:
                await client.schedule_key_deletion(SEEDED[2])
            _assert_no_space(refused.value, "Failed to delete key: Backend error: cannot write")
            with pytest.raises(KmsError) as refused:
                await client.disable_key(SEEDED[3])
            _assert_no_space(refused.value, "Failed to disable key: Backend error: cannot write")
            for answer in (
                await s3.put("/new-bucket"),
                await s3.put(
                    "/seeded-bucket?encryption",
                    content=b"<ServerSideEncryptionConfiguration><Rule>"
                    b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
                    b"</ApplyServerSideEncryptionByDefault></Rule>"
                    b"</ServerSideEncryptionConfiguration>",
                ),
            ):
                assert answer.status_code == 500, answer.text
                assert "<Code>InternalError</Code>" in answer.text
                assert f"cannot store the bucket change: {NO_SPACE}" in answer.text

            await _everything_still_readable(client, before)
            assert _temp_files(server) == []
            assert _stored(server) == stored_before

            # Two free pages: a 40 KiB description is cut short by the disk, a tag still fits.
            os.truncate(filler, filler.stat().st_size - 2 * os.statvfs(server.disk).f_frsize)
            with pytest.raises(KmsError) as refused:
                await client.update_key_description(SEEDED[4], "x" * 40_000)
            _assert_no_space(refused.value, "Failed to update key description: Backend error")
            assert _temp_files(server) == [] and _stored(server) == stored_before
            tagged = await client.tag_key(SEEDED[5], {"team": "fits"})
            assert tagged is not None and tagged.tags["team"] == "fits"
            before[SEEDED[5]] = (await client.describe_key(SEEDED[5])).metadata
            fill(filler)

            await _everything_still_readable(client, before)
            stored_full = _stored(server)
            assert stored_full[SEEDED[5]][2]["team"] == "fits"
            assert {k: v for k, v in stored_full.items() if k != SEEDED[5]} == {
                k: v for k, v in stored_before.items() if k != SEEDED[5]
            }

            filler.unlink()
            created = await client.create_key(name="after-space-freed")
            assert created.key_id == "after-space-freed"
            assert (await client.tag_key(SEEDED[0], {"team": "b"})) is not None
            assert (await client.schedule_key_deletion(SEEDED[2])).deletion_date is not None
            assert (await s3.put("/new-bucket")).status_code == 200
            data_key = await client.generate_data_key("after-space-freed")
            assert base64.b64encode(data_key.plaintext)
            stored_after = _stored(server)
            assert stored_after["after-space-freed"][0] == "Active"
            assert stored_after[SEEDED[0]][2]["team"] == "b"
            assert stored_after[SEEDED[2]][0] == "PendingDeletion"
            assert _temp_files(server) == []
        log = server.log()
    assert "Traceback" not in log, log[-3000:]
