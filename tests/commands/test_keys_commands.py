"""``kms-tui keys ...`` as a process against ``kms-tui serve``: JSON checked against the server,
every exit code, streaming into a closed pipe, Ctrl-C, and the typed confirmation on a terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commands.support import (
    BULK_PREFIX,
    Server,
    cli_argv,
    no_traceback,
    one_line_error,
    run_cli,
    serve_for_module,
)
from tests.fakes.misbehaving import hang, misbehaving
from tests.fakes.serve import REPO_ROOT, TEST_SECRET_KEY, s3_client

SEEDED = 1500  # longer than a pipe buffer as NDJSON, so `| head -1` really closes it early
KEY_FIELDS = {"key_id", "state", "description", "tags", "created_at", "deletion_date"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_for_module(tmp_path_factory, seed=SEEDED)


def test_create_show_and_list_agree_with_the_server(server: Server) -> None:
    created = server.cli(
        "keys", "create", "--name", "ledger", "--description", "payments ledger",
        "--tag", "env=prod", "--tag", "team=red", "--json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    key = created.json
    assert set(key) == KEY_FIELDS
    held = server.key("ledger")
    assert held is not None
    assert key["key_id"] == held["key_id"] == "ledger"
    assert key["state"] == held["key_state"] == "Enabled"
    assert key["description"] == held["description"] == "payments ledger"
    assert key["tags"] == held["tags"] == {"env": "prod", "team": "red", "name": "ledger"}
    assert key["created_at"].endswith("Z") and key["deletion_date"] is None
    assert key["created_at"][:19] == held["creation_date"][:19]

    shown = server.cli("keys", "show", "ledger", "--json")
    assert shown.code == 0 and shown.json == key

    listed = server.cli("keys", "list", "--json")
    assert listed.code == 0, listed.stderr
    doc = listed.json
    assert doc["count"] == len(doc["keys"]) == len(server.key_ids())
    assert [k["key_id"] for k in doc["keys"]] == server.key_ids()
    assert next(k for k in doc["keys"] if k["key_id"] == "ledger") == key  # same shape, same word

    streamed = server.cli("keys", "list", "--ndjson", "--filter", "PAYMENTS")
    assert streamed.code == 0 and streamed.lines == [key]
    plain = server.cli("keys", "list", "--filter", "ledger")
    assert plain.code == 0 and "\x1b" not in plain.stdout
    assert plain.stdout.splitlines()[0].split()[:2] == ["KEY", "ID"]
    assert "ledger" in plain.stdout.splitlines()[1] and "Enabled" in plain.stdout


def test_bulk_disable_with_a_missing_key_is_partial(server: Server) -> None:
    for name in ("bulk-a", "bulk-b"):
        server.create_key(name)
    done = server.cli("keys", "disable", "bulk-a", "no-such-key", "bulk-b", "--json")
    assert done.code == 4, done.stderr
    doc = done.json
    assert [(r["key_id"], r["ok"]) for r in doc["results"]] == [
        ("bulk-a", True),
        ("no-such-key", False),
        ("bulk-b", True),
    ]
    assert doc["succeeded"] == 2 and doc["failed"] == 1
    assert doc["results"][1]["error"]["status"] == 404
    assert doc["results"][0]["key"]["state"] == "Disabled"
    assert server.key("bulk-a")["key_state"] == "Disabled"  # type: ignore[index]
    assert server.key("bulk-b")["key_state"] == "Disabled"  # type: ignore[index]
    assert "no-such-key" in done.stderr and "Traceback" not in done.stderr

    only = server.cli("keys", "list", "--state", "disabled", "--ndjson")
    assert only.code == 0
    assert {k["key_id"] for k in only.lines} >= {"bulk-a", "bulk-b"}
    assert {k["state"] for k in only.lines} == {"Disabled"}

    enabled = server.cli("keys", "enable", "bulk-a", "bulk-b")
    assert enabled.code == 0, enabled.stderr
    assert server.key("bulk-a")["key_state"] == "Enabled"  # type: ignore[index]
    assert "bulk-b  Enabled" in enabled.stdout


def test_every_key_failing_is_exit_1_with_the_error_document(server: Server) -> None:
    done = server.cli("keys", "enable", "ghost-1", "--json")
    assert done.code == 1
    error = done.json["error"]
    assert set(error) == {"code", "message", "status", "request_id"}
    assert error["status"] == 404 and error["request_id"]
    shown = server.cli("keys", "show", "ghost-1", "--json")
    assert shown.code == 1
    assert shown.json["error"]["status"] == 404 and shown.json["error"]["request_id"]
    line = one_line_error(shown)
    assert line.startswith("kms-tui: ") and "ghost-1" in line


def test_delete_off_a_terminal_needs_yes(server: Server) -> None:
    server.create_key("keep-me")
    refused = server.cli("keys", "delete", "keep-me")
    assert refused.code == 2
    assert "--yes" in one_line_error(refused)
    assert server.key("keep-me")["key_state"] == "Enabled"  # type: ignore[index]
    as_json = server.cli("keys", "delete", "keep-me", "--json")
    assert as_json.code == 2 and as_json.json["error"]["code"] == "ConfirmationRequired"
    assert server.key("keep-me")["key_state"] == "Enabled"  # type: ignore[index]


def test_delete_reports_the_buckets_that_name_the_key_and_undelete(server: Server) -> None:
    server.create_key("doomed")
    s3 = s3_client(server.endpoint, "test-access-key", TEST_SECRET_KEY)
    s3.create_bucket(Bucket="uses-doomed")
    put = server.cli("buckets", "encrypt", "uses-doomed", "--kms-key", "doomed")
    assert put.code == 0, put.stderr
    done = server.cli("keys", "delete", "doomed", "--days", "7", "--yes", "--json")
    assert done.code == 0, done.stderr
    result = done.json["results"][0]
    held = server.key("doomed")
    assert held is not None and held["key_state"] == "PendingDeletion"
    assert result["key"]["state"] == "PendingDeletion"
    assert result["deletion_date"] == result["key"]["deletion_date"]
    assert result["deletion_date"][:19] == held["deletion_date"][:19]
    assert result["buckets"] == ["uses-doomed"]
    kinds = {ref["kind"] for ref in result["impact"]["references"]}
    assert "bucket-default-encryption" in kinds

    pending = server.cli("keys", "list", "--state", "PendingDeletion", "--ndjson")
    found = [k for k in pending.lines if k["key_id"] == "doomed"]
    assert found and found[0]["deletion_date"] == result["deletion_date"]  # list == show

    back = server.cli("keys", "undelete", "doomed", "--json")
    assert back.code == 0 and back.json["results"][0]["key"]["state"] == "Enabled"
    assert server.key("doomed")["key_state"] == "Enabled"  # type: ignore[index]


def test_impact_counts_the_objects_under_the_key(server: Server) -> None:
    server.create_key("object-key")
    s3 = s3_client(server.endpoint, "test-access-key", TEST_SECRET_KEY)
    s3.create_bucket(Bucket="impact-bucket")
    for name in ("a.txt", "b.txt"):
        s3.put_object(
            Bucket="impact-bucket",
            Key=name,
            Body=b"x" * 10,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId="object-key",
        )
    s3.put_object(Bucket="impact-bucket", Key="plain.txt", Body=b"y")
    quick = server.cli("keys", "impact", "object-key", "--json")
    assert quick.code == 0, quick.stderr
    assert quick.json["objects"] is None and quick.json["bucket_defaults"] == []
    full = server.cli("keys", "impact", "object-key", "--objects", "--json")
    assert full.code == 0, full.stderr
    objects = full.json["objects"]
    assert objects["count"] == 2 and objects["bytes"] == 20
    assert objects["by_bucket"] == {"impact-bucket": 2}
    assert objects["partial"] is False and objects["errors"] == []


def test_ndjson_into_head_ends_quietly(server: Server) -> None:
    command = " ".join(
        [
            *(f"'{part}'" for part in cli_argv("--endpoint", server.endpoint)),
            "keys list --ndjson | head -1; exit ${PIPESTATUS[0]}",
        ]
    )
    done = subprocess.run(
        ["bash", "-c", command],
        env=server.env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith('{"key_id":"')


def test_ndjson_streams_every_key(server: Server) -> None:
    done = server.cli("keys", "list", "--ndjson", "--filter", BULK_PREFIX + "01")
    assert done.code == 0, done.stderr
    ids = [k["key_id"] for k in done.lines]
    assert ids == [f"{BULK_PREFIX}{index:05d}" for index in range(1000, SEEDED)]  # two pages
    assert all(set(k) == KEY_FIELDS for k in done.lines)


def test_bad_arguments_are_exit_2_on_one_line(server: Server) -> None:
    for args in (
        ("keys", "delete", "k", "--days", "3"),
        ("keys", "frobnicate"),
        ("keys", "list", "--state", "Sleeping"),
        ("keys", "create", "--tag", "novalue"),
        ("buckets", "encrypt", "b"),
    ):
        done = server.cli(*args)
        assert done.code == 2, (args, done.stderr)
        line = one_line_error(done)
        assert "error:" in line and "--help" in line
        assert done.stdout == ""
    as_json = server.cli("keys", "show", "--json")
    assert as_json.code == 2 and as_json.json["error"]["code"] == "UsageError"


def test_read_only_is_refused_before_anything_is_sent(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[profiles.ro]\n"
        f'endpoint = "{server.endpoint}"\n'
        'access_key = "test-access-key"\n'
        'secret_key_env = "RO_SECRET"\n'
        "read_only = true\n"
    )
    config.chmod(0o600)
    env = server.env({"RO_SECRET": TEST_SECRET_KEY})
    base = ["--config", str(config), "--profile", "ro"]
    refused = run_cli(*base, "keys", "create", "--name", "never", "--json", env=env)
    assert refused.code == 2 and refused.json["error"]["code"] == "ReadOnly"
    one_line_error(refused)
    assert server.key("never") is None
    allowed = run_cli(*base, "keys", "show", "ledger", "--json", env=env)
    assert allowed.code in (0, 1) and "ReadOnly" not in allowed.stdout
    flag = server.cli("--read-only", "keys", "disable", "ledger")
    assert flag.code == 2 and "read-only" in one_line_error(flag)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[profiles.x]\nendpoint = 3\n")
    broken = run_cli("--config", str(bad_config), "status", "--json", env=env)
    assert broken.code == 2 and broken.json["error"]["code"] == "ConfigError"


def test_unreachable_endpoint_is_exit_3(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{port}"
    done = run_cli("--endpoint", closed, "keys", "list", "--json", env=server.env())
    assert done.code == 3
    assert done.json["error"]["code"] == "ConnectionError"
    assert "could not reach" in one_line_error(done)


def test_ctrl_c_during_a_list_is_130(server: Server) -> None:
    with misbehaving(server.endpoint) as proxy:
        proxy.set("GET", "/kms/keys", hang())
        process = subprocess.Popen(
            cli_argv("--endpoint", proxy.url, "keys", "list", "--ndjson"),
            env=server.env(),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not proxy.requests_to("GET", "/kms/keys") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.requests_to("GET", "/kms/keys"), "the list request never arrived"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    no_traceback(err)
    assert err.strip() == "kms-tui: interrupted"
    assert json.loads(out) == {
        "error": {
            "code": "Interrupted",
            "message": "interrupted",
            "status": None,
            "request_id": None,
        }
    }


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


@pytest.mark.parametrize(
    ("typed", "code", "state"), [("wrong", 2, "Enabled"), (None, 0, "PendingDeletion")]
)
def test_delete_on_a_terminal_asks_for_the_key_id(
    server: Server, typed: str | None, code: int, state: str
) -> None:
    name = f"typed-{code}"
    server.create_key(name)
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            cli_argv("--endpoint", server.endpoint, "keys", "delete", name),
            env=server.env(),
            cwd=REPO_ROOT,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
        )
        prompt = _read_until(master, b"to confirm: ")
        assert f"Type the key id ({name}) to confirm".encode() in prompt, prompt
        assert b"will schedule deletion in 30 days" in prompt
        os.write(master, f"{typed or name}\n".encode())
        out, _ = process.communicate(timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert process.returncode == code
    assert server.key(name)["key_state"] == state  # type: ignore[index]
    if code == 0:
        assert f"{name}  PendingDeletion" in out
