"""The `kms-tui serve` process (announcement, credentials, lock, signals) and EmbeddedServer."""

from __future__ import annotations

import signal
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from kms_tui.embedded.locking import DataDirLock, DataDirLockedError
from kms_tui.embedded.server import EmbeddedServer, EmbeddedServerError
from tests.fakes.serve import (
    TEST_ACCESS_KEY,
    admin_call,
    configure_local_kms,
    create_key,
    run_serve_to_exit,
    running_embedded,
    running_serve,
    s3_client,
    start_serve,
)


def list_bucket_names(endpoint: str, access_key: str, secret_key: str) -> list[str]:
    s3 = s3_client(endpoint, access_key, secret_key)
    return [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_listening_line_and_port_zero(tmp_path: Path) -> None:
    with running_serve(tmp_path / "data") as served:
        assert served.stdout_lines == [f"listening on {served.endpoint}"]
        assert served.endpoint.startswith("http://127.0.0.1:")
        assert served.port != 0
        assert list_bucket_names(served.endpoint, served.access_key, served.secret_key) == []
        assert "default credentials" not in served.stderr_text()


def test_default_credentials_warn(tmp_path: Path) -> None:
    with running_serve(tmp_path / "data", access_key=None, secret_key=None) as served:
        assert "WARNING" in served.stderr_text()
        assert "default credentials" in served.stderr_text()
        assert list_bucket_names(served.endpoint, "rustfsadmin", "rustfsadmin") == []


def test_credentials_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTFS_ACCESS_KEY", "env-access")
    monkeypatch.setenv("RUSTFS_SECRET_KEY", "env-secret-value")
    with running_serve(tmp_path / "data", access_key=None, secret_key=None) as served:
        assert list_bucket_names(served.endpoint, "env-access", "env-secret-value") == []
        with pytest.raises(ClientError) as refused:
            list_bucket_names(served.endpoint, "rustfsadmin", "rustfsadmin")
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        assert "default credentials" not in served.stderr_text()
        assert "env-secret-value" not in served.stderr_text()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_default_credentials_refused_off_loopback(tmp_path: Path, host: str) -> None:
    result = run_serve_to_exit(tmp_path / "data", "--host", host)
    assert result.returncode == 2
    assert "refusing to listen" in result.stderr and "default credentials" in result.stderr
    assert "listening on" not in result.stdout
    assert not (tmp_path / "data").exists()


def test_half_given_credentials_refused(tmp_path: Path) -> None:
    result = run_serve_to_exit(tmp_path / "data", "--access-key", "only-access")
    assert result.returncode == 2
    assert "both" in result.stderr


def test_port_in_use_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_serve_to_exit(
            tmp_path / "data",
            "--port",
            str(port),
            "--access-key",
            "a-key",
            "--secret-key",
            "s-key",
        )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
    with DataDirLock(tmp_path / "data"):
        pass


def test_second_server_on_same_data_dir_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_serve(data_dir) as first:
        second = run_serve_to_exit(data_dir, "--access-key", "x", "--secret-key", "y")
        assert second.returncode == 2
        assert str(data_dir) in second.stderr and "in use" in second.stderr
        assert "listening on" not in second.stdout
        assert first.process.poll() is None
        assert list_bucket_names(first.endpoint, first.access_key, first.secret_key) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_state_survives(tmp_path: Path, signum: int) -> None:
    data_dir = tmp_path / "data"
    served = start_serve(data_dir)
    try:
        configure_local_kms(
            served.endpoint, served.access_key, served.secret_key, tmp_path / "keys"
        )
        assert create_key(served.endpoint, served.access_key, served.secret_key, "kept").is_success
        s3_client(served.endpoint, served.access_key, served.secret_key).create_bucket(
            Bucket="kept-bucket"
        )
    finally:
        code = served.stop(signum)
    assert code == 0, served.stderr_text()
    assert "Traceback" not in served.stderr_text()
    with DataDirLock(data_dir) as lock:  # released by the stopped server
        assert lock.held

    with running_serve(data_dir) as again:
        status = admin_call(
            again.endpoint, again.access_key, again.secret_key, "GET", "/kms/service-status"
        )
        assert status.json()["status"] == "Running"
        described = admin_call(
            again.endpoint, again.access_key, again.secret_key, "GET", "/kms/keys/kept"
        )
        assert described.status_code == 200, described.text
        assert described.json()["key_metadata"]["key_id"] == "kept"
        names = list_bucket_names(again.endpoint, again.access_key, again.secret_key)
        assert names == ["kept-bucket"]


def test_embedded_server_start_stop_twice(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    log_file = tmp_path / "state" / "logs" / "embedded.log"
    endpoints = []
    for round_number in range(2):
        server = EmbeddedServer(data_dir, log_file=log_file)
        with server:
            endpoints.append(server.endpoint)
            assert server.endpoint.startswith("http://127.0.0.1:")
            assert server.secret_key not in repr(server)
            s3 = s3_client(server.endpoint, server.access_key, server.secret_key)
            if round_number == 0:
                s3.create_bucket(Bucket="embedded-bucket")
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["embedded-bucket"]
            with pytest.raises(ClientError):
                s3.create_bucket(Bucket="Bad_Name")  # a logged error, still silent on the tty
            assert server.service.is_running is False
        server.stop()  # idempotent
        assert not server.running
        with pytest.raises(EmbeddedServerError):
            _ = server.endpoint
        with pytest.raises(httpx.TransportError):
            httpx.get(endpoints[-1], timeout=2)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    log_text = log_file.read_text()
    assert "PUT /embedded-bucket -> 200" in log_text
    assert server.secret_key not in log_text


def test_embedded_server_default_log_file_and_credentials(
    tmp_path: Path, isolated_dirs: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with (
        running_embedded(tmp_path / "data") as first,
        running_embedded(tmp_path / "other") as second,
    ):
        assert first.access_key != second.access_key
        assert first.secret_key != second.secret_key
        assert len(first.secret_key) >= 32
        assert first.endpoint != second.endpoint
        assert list_bucket_names(first.endpoint, first.access_key, first.secret_key) == []
    log_file = isolated_dirs / "state" / "kms-tui" / "log" / "embedded-server.log"
    assert log_file.exists()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert capfd.readouterr() == ("", "")


def test_embedded_server_given_credentials_and_kms(tmp_path: Path) -> None:
    with running_embedded(
        tmp_path / "data",
        access_key=TEST_ACCESS_KEY,
        secret_key="given-secret",
        log_file=tmp_path / "server.log",
    ) as server:
        assert (server.access_key, server.secret_key) == (TEST_ACCESS_KEY, "given-secret")
        configure_local_kms(server.endpoint, TEST_ACCESS_KEY, "given-secret", tmp_path / "keys")
        assert server.service.is_running
        assert create_key(server.endpoint, TEST_ACCESS_KEY, "given-secret", "emb-key").is_success
        assert server.service.key_exists("emb-key")


def test_embedded_server_refuses_a_held_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_embedded(data_dir, log_file=tmp_path / "a.log"):
        blocked = EmbeddedServer(data_dir, log_file=tmp_path / "b.log")
        with pytest.raises(DataDirLockedError) as held:
            blocked.start()
        assert str(data_dir) in str(held.value)
        blocked.stop()
    with running_embedded(data_dir, log_file=tmp_path / "c.log") as after:
        assert after.running


def test_default_data_dir(tmp_path: Path, isolated_dirs: Path) -> None:
    served = start_serve(tmp_path / "capture", pass_data_dir=False)
    try:
        s3_client(served.endpoint, served.access_key, served.secret_key).create_bucket(
            Bucket="default-dir"
        )
        data_dir = isolated_dirs / "data" / "kms-tui" / "server"
        assert (data_dir / "server.lock").exists()
        assert (data_dir / "buckets" / "default-dir.json").exists()
        with pytest.raises(DataDirLockedError):
            DataDirLock(data_dir).acquire()
    finally:
        assert served.stop() == 0


def test_embedded_server_sweeps_periodically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kms_tui.embedded.service_keys import KeyOperations

    calls: list[float] = []
    original = KeyOperations.sweep_expired

    def counting_sweep(self: KeyOperations) -> list[str]:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise OSError("disk went away")  # one failing sweep must not stop the next
        return original(self)

    monkeypatch.setattr(KeyOperations, "sweep_expired", counting_sweep)
    with running_embedded(tmp_path / "data", log_file=tmp_path / "s.log", sweep_interval=0.02):
        deadline = time.monotonic() + 10
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 4
    settled = len(calls)
    time.sleep(0.1)
    assert len(calls) == settled  # the sweeper stopped with the server
    assert "key deletion sweep failed" in (tmp_path / "s.log").read_text()
