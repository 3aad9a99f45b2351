"""``kms-tui status``, ``doctor`` and ``buckets ...`` as processes against ``kms-tui serve``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.commands.support import Server, one_line_error, run_cli, serve_for_module
from tests.fakes.misbehaving import misbehaving, skew
from tests.fakes.serve import TEST_ACCESS_KEY, TEST_SECRET_KEY, s3_client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_for_module(tmp_path_factory)


_CLIENTS: dict[str, Any] = {}


def s3(server: Server) -> Any:
    """One boto3 client per server (making one costs more than a request)."""
    if server.endpoint not in _CLIENTS:
        _CLIENTS[server.endpoint] = s3_client(server.endpoint, TEST_ACCESS_KEY, TEST_SECRET_KEY)
    return _CLIENTS[server.endpoint]


def server_encryption(server: Server, bucket: str) -> dict[str, Any] | None:
    try:
        answer = s3(server).get_bucket_encryption(Bucket=bucket)
    except ClientError as err:
        assert err.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
        return None
    rule = answer["ServerSideEncryptionConfiguration"]["Rules"][0]
    return dict(rule["ApplyServerSideEncryptionByDefault"])


def set_enabled(server: Server, key_id: str, enabled: bool) -> None:
    route = "/kms/keys/enable" if enabled else "/kms/keys/disable"
    code, answer = server.admin("POST", route, {"key_id": key_id})
    assert code == 200, answer


def encrypt(server: Server, bucket: str, key_id: str) -> None:
    s3(server).put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_id,
                    }
                }
            ]
        },
    )


def test_status_matches_the_service(server: Server) -> None:
    done = server.cli("status", "--json")
    assert done.code == 0, done.stderr
    doc = done.json
    _, held = server.admin("GET", "/kms/service-status")
    assert doc["service"]["state"] == held["status"] == "Running"
    assert doc["service"]["backend"] == held["backend_type"] == "Local"
    assert doc["kms"]["backend_status"] == "healthy"
    assert doc["profile"] == "endpoint" and doc["server"] == server.endpoint
    plain = server.cli("status")
    assert plain.code == 0 and "Running" in plain.stdout and "\x1b" not in plain.stdout


def test_encrypt_show_list_and_unencrypt(server: Server) -> None:
    server.create_key("bucket-key")
    s3(server).create_bucket(Bucket="invoices")
    s3(server).create_bucket(Bucket="reports")

    done = server.cli("buckets", "encrypt", "invoices", "--kms-key", "bucket-key", "--json")
    assert done.code == 0, done.stderr
    assert done.json["encryption"] == {
        "algorithm": "aws:kms",
        "label": "SSE-KMS",
        "kms_key_id": "bucket-key",
    }
    assert server_encryption(server, "invoices") == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": "bucket-key",
    }
    sse_s3 = server.cli("buckets", "encrypt", "reports", "--sse-s3", "--json")
    assert sse_s3.code == 0 and sse_s3.json["encryption"]["algorithm"] == "AES256"
    assert server_encryption(server, "reports") == {"SSEAlgorithm": "AES256"}

    missing_key = server.cli("buckets", "encrypt", "reports", "--kms-key", "no-such", "--json")
    assert missing_key.code == 1 and missing_key.json["error"]["code"] == "KeyNotFound"
    assert server_encryption(server, "reports") == {"SSEAlgorithm": "AES256"}

    shown = server.cli("buckets", "encryption", "invoices", "--json")
    assert shown.code == 0 and shown.json["key_state"] == "Enabled"
    assert shown.json["problem"] is None

    set_enabled(server, "bucket-key", False)
    listed = server.cli("buckets", "list", "--json")
    assert listed.code == 0, listed.stderr
    by_name = {b["name"]: b for b in listed.json["buckets"]}
    assert set(by_name) >= {"invoices", "reports"}
    assert by_name["invoices"]["key_state"] == "Disabled"
    assert by_name["invoices"]["problem"] == "key bucket-key is disabled"
    assert by_name["reports"]["encryption"]["label"] == "SSE-S3"
    set_enabled(server, "bucket-key", True)

    refused = server.cli("buckets", "unencrypt", "invoices")
    assert refused.code == 2 and "--yes" in one_line_error(refused)
    assert server_encryption(server, "invoices") is not None
    removed = server.cli("buckets", "unencrypt", "invoices", "--yes", "--json")
    assert removed.code == 0, removed.stderr
    assert removed.json["encryption"] is None
    assert server_encryption(server, "invoices") is None

    gone = server.cli("buckets", "encryption", "no-such-bucket", "--json")
    assert gone.code == 1 and gone.json["error"]["code"] == "NoSuchBucket"


def test_verify_writes_a_probe_and_judges(server: Server) -> None:
    server.create_key("verify-key")
    client = s3(server)
    client.create_bucket(Bucket="verified")
    client.create_bucket(Bucket="unverified")
    encrypt(server, "verified", "verify-key")
    done = server.cli("buckets", "verify", "verified", "unverified", "--json")
    assert done.code == 1, done.stderr
    results = {r["bucket"]: r for r in done.json["results"]}
    assert results["verified"]["ok"] is True and results["verified"]["verdict"] == "expected"
    assert results["verified"]["seen_key_id"] == "verify-key"
    assert results["unverified"]["verdict"] == "not_encrypted"
    for bucket in ("verified", "unverified"):  # the probes are gone
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    only_good = server.cli("buckets", "verify", "verified")
    assert only_good.code == 0 and only_good.stdout.startswith("ok")
    read_only = server.cli("--read-only", "buckets", "verify", "verified")
    assert read_only.code == 2


def test_doctor_passes_then_names_the_broken_bucket(server: Server) -> None:
    done = server.cli("doctor", "--json")
    assert done.code == 0, done.stdout
    checks = {c["id"]: c for c in done.json["checks"]}
    assert list(checks) == [
        "endpoint",
        "credentials",
        "clock",
        "service",
        "backend",
        "default_key",
        "bucket_keys",
        "cluster",
    ]
    assert {c["outcome"] for c in checks.values()} <= {"ok", "warning"}
    assert checks["default_key"]["outcome"] == "warning"  # no default key configured here
    assert checks["default_key"]["fix"]

    server.create_key("doctor-key")
    s3(server).create_bucket(Bucket="doctor-bucket")
    encrypt(server, "doctor-bucket", "doctor-key")
    probe = server.cli("doctor", "--probe", "doctor-bucket", "--json")
    assert probe.code == 0 and probe.json["checks"][-1]["id"] == "probe"
    assert probe.json["checks"][-1]["outcome"] == "ok"
    set_enabled(server, "doctor-key", False)
    broken = server.cli("doctor")
    assert broken.code == 1
    assert "FAIL  bucket defaults name usable keys: doctor-bucket: key doctor-key is disabled" in (
        broken.stdout
    )
    assert "fix: " in broken.stdout and "\x1b" not in broken.stdout
    set_enabled(server, "doctor-key", True)
    refused = server.cli("--read-only", "doctor", "--probe", "doctor-bucket")
    assert refused.code == 2


def test_doctor_on_an_unreachable_endpoint_and_a_skewed_clock(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = run_cli("--endpoint", f"http://127.0.0.1:{port}", "doctor", "--json", env=server.env())
    assert down.code == 1
    outcomes = [(c["id"], c["outcome"]) for c in down.json["checks"]]
    assert outcomes[0] == ("endpoint", "failed")
    assert {outcome for _, outcome in outcomes[1:]} == {"skipped"}
    assert "check the URL" in down.json["checks"][0]["fix"]

    with misbehaving(server.endpoint) as proxy:
        proxy.set("GET", "/kms/service-status", skew())
        skewed = run_cli("--endpoint", proxy.url, "doctor", "--json", env=server.env())
    assert skewed.code == 1
    checks = {c["id"]: c for c in skewed.json["checks"]}
    assert checks["clock"]["outcome"] == "failed" and "NTP" in checks["clock"]["fix"]
    assert checks["credentials"]["outcome"] == "skipped"


def test_backup_without_prerequisites_says_so(server: Server, tmp_path: Any) -> None:
    done = server.cli("backup", "create", str(tmp_path / "b.json"), "--json")
    assert done.code == 1
    assert done.json["error"]["code"] == "BackupUnavailable"
    assert "RUSTFS_KMS_BACKUP_DIR" in one_line_error(done)
    assert not (tmp_path / "b.json").exists()
