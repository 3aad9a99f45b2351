"""Helpers for tests that talk to the embedded server: a `kms-tui serve` subprocess, an
in-process `EmbeddedServer`, SigV4-signed admin calls (botocore's signer) and a boto3 S3 client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kms_tui.embedded.server import EmbeddedServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ACCESS_KEY = "test-access-key"
TEST_SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"
_LISTENING = re.compile(r"^listening on (http://\S+:(\d+))$")


@dataclass
class ServeProcess:
    """A running ``kms-tui serve`` subprocess and what a client needs to reach it."""

    process: subprocess.Popen[bytes]
    endpoint: str
    data_dir: Path
    access_key: str
    secret_key: str
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def stderr_text(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send a signal and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def kill(self) -> None:
        """SIGKILL, no clean-up by the server."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve_command(data_dir: Path | None, *extra: str, port: int = 0) -> list[str]:
    """The argv of ``kms-tui serve`` on a free port (no ``--data-dir`` when None)."""
    command = [sys.executable, "-m", "kms_tui", "serve", "--port", str(port)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return [*command, *extra]


def _read_line(process: subprocess.Popen[bytes], deadline: float) -> str | None:
    """One stdout line, or None at EOF or when the deadline passes."""
    assert process.stdout is not None
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(process.stdout.fileno(), 1)
            if not chunk:
                return buffer.decode() if buffer else None
            buffer += chunk
    return buffer.decode().rstrip("\n")


def start_serve(
    data_dir: Path,
    *extra: str,
    access_key: str | None = TEST_ACCESS_KEY,
    secret_key: str | None = TEST_SECRET_KEY,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    pass_data_dir: bool = True,
) -> ServeProcess:
    """Start ``kms-tui serve --port 0`` and wait for its ``listening on`` line.

    With ``pass_data_dir=False`` the server picks its default data directory and
    ``data_dir`` only says where the stderr capture goes.
    """
    args = list(extra)
    if access_key is not None:
        args += ["--access-key", access_key]
    if secret_key is not None:
        args += ["--secret-key", secret_key]
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"{data_dir.name}-serve-{time.monotonic_ns()}.stderr"
    with stderr_path.open("wb") as stderr_file:
        process = subprocess.Popen(
            serve_command(data_dir if pass_data_dir else None, *args),
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            cwd=REPO_ROOT,
            env=dict(os.environ if env is None else env),
        )
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while True:
        line = _read_line(process, deadline)
        if line is None:
            process.kill()
            process.wait(10)
            raise AssertionError(
                f"kms-tui serve did not announce itself; stdout={lines!r} "
                f"stderr={stderr_path.read_text(errors='replace')!r}"
            )
        lines.append(line)
        match = _LISTENING.match(line)
        if match:
            return ServeProcess(
                process,
                match.group(1),
                data_dir,
                access_key or "rustfsadmin",
                secret_key or "rustfsadmin",
                stderr_path,
                lines,
            )


def run_serve_to_exit(
    data_dir: Path, *extra: str, timeout: float = 30.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``kms-tui serve`` expecting it to refuse and exit by itself."""
    return subprocess.run(
        serve_command(data_dir, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=dict(os.environ if env is None else env),
        check=False,
    )


def signed_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    service: str = "s3",
    auth_class: type[SigV4Auth] = S3SigV4Auth,
    signed_at: datetime | None = None,
) -> dict[str, str]:
    """Headers signed with botocore's SigV4 signer (service s3, us-east-1 unless told).

    ``S3SigV4Auth`` adds ``X-Amz-Content-SHA256``; plain ``SigV4Auth`` does not, and signs
    whatever ``X-Amz-Content-SHA256`` the caller put in ``headers`` (e.g. UNSIGNED-PAYLOAD).
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = auth_class(Credentials(access_key, secret_key), service, REGION)
    if signed_at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
            signer.add_auth(request)
    return dict(request.headers.items())


def admin_call(
    endpoint: str,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    payload: Any = None,
    *,
    timeout: float = 30.0,
) -> httpx.Response:
    """One signed admin request; ``path`` is relative to /rustfs/admin/v3 (query allowed)."""
    url = f"{endpoint}/rustfs/admin/v3{path}"
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = {"content-type": "application/json"} if body else {}
    signed = signed_headers(
        method, url, access_key=access_key, secret_key=secret_key, body=body, headers=headers
    )
    return httpx.request(method, url, content=body, headers=signed, timeout=timeout)


def configure_local_kms(
    endpoint: str,
    access_key: str,
    secret_key: str,
    key_dir: Path,
    *,
    default_key_id: str | None = None,
    start: bool = True,
) -> None:
    """Configure a Local backend (master key, dev flag for temp dirs) and start it."""
    request: dict[str, Any] = {
        "backend_type": "Local",
        "key_dir": str(key_dir),
        "master_key": "test master key passphrase",
        "allow_insecure_dev_defaults": True,
    }
    if default_key_id is not None:
        request["default_key_id"] = default_key_id
    answer = admin_call(endpoint, access_key, secret_key, "POST", "/kms/configure", request)
    assert answer.status_code == 200 and answer.json()["success"], answer.text
    if start:
        answer = admin_call(endpoint, access_key, secret_key, "POST", "/kms/start", {})
        assert answer.status_code == 200 and answer.json()["success"], answer.text


def create_key(endpoint: str, access_key: str, secret_key: str, name: str) -> httpx.Response:
    """POST /kms/keys naming the key through its ``name`` tag."""
    return admin_call(
        endpoint, access_key, secret_key, "POST", "/kms/keys", {"tags": {"name": name}}
    )


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    """A boto3 S3 client, path-style, us-east-1, explicit credentials, no retries."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
        ),
    )


@contextlib.contextmanager
def running_serve(data_dir: Path, *extra: str, **kwargs: Any) -> Iterator[ServeProcess]:
    """A ``kms-tui serve`` subprocess for the duration of a ``with`` block."""
    served = start_serve(data_dir, *extra, **kwargs)
    try:
        yield served
    finally:
        served.stop()


@contextlib.contextmanager
def running_embedded(data_dir: Path, **kwargs: Any) -> Iterator[EmbeddedServer]:
    """An in-process ``EmbeddedServer`` for the duration of a ``with`` block."""
    server = EmbeddedServer(data_dir, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[ServeProcess]:
    """A ``kms-tui serve`` subprocess over a fresh data directory."""
    with running_serve(tmp_path / "data") as served:
        yield served


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """An in-process ``EmbeddedServer`` over a fresh data directory, logging into tmp."""
    with running_embedded(tmp_path / "data", log_file=tmp_path / "logs" / "server.log") as server:
        yield server


def xml_code(body: bytes | str) -> str | None:
    """The ``<Code>`` of an S3 XML error body."""
    text = body.decode() if isinstance(body, bytes) else body
    match = re.search(r"<Code>([^<]*)</Code>", text)
    return match.group(1) if match else None
