"""Running ``kms-tui <command>`` as a real process against a real ``kms-tui serve``.

Each test module starts one server (module scope) and runs the command line as
``python -m kms_tui --endpoint URL ...`` with the server's credentials in the child's
environment (never in argv) and its own XDG directories. What a command printed is checked
against what the server holds, read back with the signed helpers of :mod:`tests.fakes.serve`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.serve import (
    REPO_ROOT,
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    ServeProcess,
    admin_call,
    configure_local_kms,
    start_serve,
)

_DROPPED = (
    "RUSTFS_ACCESS_KEY",
    "RUSTFS_SECRET_KEY",
    "KMS_TUI_CONFIG",
    "RUSTFS_KMS_BACKUP_DIR",
    "RUSTFS_KMS_BACKUP_KEK",
    "RUSTFS_KMS_BACKUP_KEK_ID",
    "RUSTFS_KMS_BACKUP_KEK_VERSION",
    "NO_COLOR",
    "FORCE_COLOR",
)


@dataclass
class Done:
    """A finished command: exit code, stdout, stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[Any]:
        """stdout as NDJSON."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def base_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: fresh XDG directories under ``home``, no stray credentials."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env["AWS_CONFIG_FILE"] = str(home / "aws-config-absent")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "aws-credentials-absent")
    env.update(extra or {})
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kms_tui", *args]


def run_cli(
    *args: str,
    env: Mapping[str, str],
    stdin: Any = subprocess.DEVNULL,
    timeout: float = 60.0,
) -> Done:
    """Run the command line to its end (stdin not a terminal unless given one)."""
    done = subprocess.run(
        cli_argv(*args),
        env=dict(env),
        cwd=REPO_ROOT,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


@dataclass
class Server:
    """A configured, running ``kms-tui serve`` and how to run commands against it."""

    served: ServeProcess
    home: Path

    @property
    def endpoint(self) -> str:
        return self.served.endpoint

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        creds = {"RUSTFS_ACCESS_KEY": TEST_ACCESS_KEY, "RUSTFS_SECRET_KEY": TEST_SECRET_KEY}
        return base_env(self.home, {**creds, **(extra or {})})

    def cli(self, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> Done:
        """``kms-tui --endpoint URL <args>``."""
        return run_cli("--endpoint", self.endpoint, *args, env=env or self.env(), **kwargs)

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        """A signed admin call; the decoded JSON answer (any status)."""
        answer = admin_call(self.endpoint, TEST_ACCESS_KEY, TEST_SECRET_KEY, method, path, payload)
        return answer.status_code, answer.json() if answer.content else None

    def key(self, key_id: str) -> dict[str, Any] | None:
        """The server's metadata of one key, None when it does not exist."""
        status, body = self.admin("GET", f"/kms/keys/{key_id}")
        return body["key_metadata"] if status == 200 else None

    def key_ids(self) -> list[str]:
        """Every key id the server lists."""
        ids: list[str] = []
        marker = ""
        while True:
            query = f"?limit=1000&marker={marker}" if marker else "?limit=1000"
            _, body = self.admin("GET", f"/kms/keys{query}")
            ids += [item["key_id"] for item in body["keys"]]
            if not body["truncated"]:
                return ids
            marker = body["next_marker"]

    def create_key(self, name: str, **fields: Any) -> dict[str, Any]:
        status, body = self.admin("POST", "/kms/keys", {"tags": {"name": name}, **fields})
        assert status == 200, body
        return body["key_metadata"]  # type: ignore[no-any-return]


BULK_PREFIX = "bulk-"


def _seed(data_dir: Path, key_dir: Path, count: int) -> None:
    """Configure a Local backend in-process and write ``count`` keys with one bulk write
    (``bulk-00000``...), as the benchmarks seed; ``kms-tui serve`` then starts Running."""
    from kms_tui.embedded.keyrecord import KeyRecord
    from kms_tui.embedded.server import EmbeddedServer
    from kms_tui.embedded.timefmt import format_zoned, utc_now

    server = EmbeddedServer(
        data_dir,
        access_key=TEST_ACCESS_KEY,
        secret_key=TEST_SECRET_KEY,
        log_file=data_dir.parent / "seed.log",
    )
    server.start()
    try:
        configure_local_kms(server.endpoint, TEST_ACCESS_KEY, TEST_SECRET_KEY, key_dir)
        created = format_zoned(utc_now())
        server.service.keys.require_store().create_many(
            KeyRecord(
                key_id=f"{BULK_PREFIX}{index:05d}",
                material=os.urandom(32),
                description=f"bulk key {index}",
                metadata={"name": f"{BULK_PREFIX}{index:05d}", "batch": "bulk"},
                created_at=created,
            )
            for index in range(count)
        )
    finally:
        server.stop()


def serve_for_module(
    tmp_path_factory: pytest.TempPathFactory,
    *extra: str,
    env: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Iterator[Server]:
    """Start ``kms-tui serve`` with a Local backend configured and running; stop it after.

    ``seed`` keys are written before the server starts (for listings longer than a pipe).
    """
    root = tmp_path_factory.mktemp("serve")
    if seed:
        _seed(root / "data", root / "keys", seed)
    served = start_serve(root / "data", *extra, env=base_env(root / "serve-home", env))
    try:
        if not seed:
            configure_local_kms(served.endpoint, TEST_ACCESS_KEY, TEST_SECRET_KEY, root / "keys")
        yield Server(served, root / "cli-home")
    finally:
        served.stop()


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def one_line_error(done: Done) -> str:
    """The command failed with exactly one plain line on stderr; returns it."""
    no_traceback(done.stderr)
    lines = done.stderr_lines()
    assert len(lines) == 1, done.stderr
    assert "\x1b" not in done.stderr
    return lines[0]


def parse_ndjson(text: str) -> Sequence[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
