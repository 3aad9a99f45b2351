"""boto3, the AWS SDK, against `kms-tui serve`: every bucket and bucket-encryption call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes.serve import (
    ServeProcess,
    admin_call,
    configure_local_kms,
    create_key,
    running_serve,
    s3_client,
)


@dataclass
class Deployment:
    """A serve process with a running Local KMS, and a boto3 client for it."""

    served: ServeProcess
    s3: Any
    key_dir: Path

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        return admin_call(
            self.served.endpoint,
            self.served.access_key,
            self.served.secret_key,
            method,
            path,
            payload,
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("serve-boto3")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUSTFS_", "AWS_", "XDG_"))
    }
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / var.lower())
    with running_serve(base / "data", env=env) as served:
        key_dir = base / "keys"
        configure_local_kms(served.endpoint, served.access_key, served.secret_key, key_dir)
        answer = create_key(served.endpoint, served.access_key, served.secret_key, "bucket-key")
        assert answer.status_code == 200, answer.text
        yield Deployment(
            served, s3_client(served.endpoint, served.access_key, served.secret_key), key_dir
        )


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def sse(algorithm: str, key_id: str | None = None) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": algorithm}
    if key_id is not None:
        default["KMSMasterKeyID"] = key_id
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}


def rule_of(s3: Any, bucket: str) -> dict[str, Any]:
    answer = s3.get_bucket_encryption(Bucket=bucket)
    rules = answer["ServerSideEncryptionConfiguration"]["Rules"]
    assert len(rules) == 1
    return dict(rules[0]["ApplyServerSideEncryptionByDefault"])


def test_create_head_list_delete(deployment: Deployment) -> None:
    s3 = deployment.s3
    created = s3.create_bucket(Bucket="boto-alpha")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == "/boto-alpha"
    s3.create_bucket(
        Bucket="boto-beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert s3.head_bucket(Bucket="boto-alpha")["ResponseMetadata"]["HTTPStatusCode"] == 200
    names = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    assert {"boto-alpha", "boto-beta"} <= set(names)
    assert names == sorted(names)
    with pytest.raises(ClientError) as duplicate:
        s3.create_bucket(Bucket="boto-alpha")
    assert error_of(duplicate) == (409, "BucketAlreadyOwnedByYou")
    deleted = s3.delete_bucket(Bucket="boto-beta")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket="boto-beta")
    assert error_of(gone)[0] == 404
    assert "boto-beta" not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_sse_s3_round_trip(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-sse-s3")
    answer = s3.put_bucket_encryption(
        Bucket="boto-sse-s3", ServerSideEncryptionConfiguration=sse("AES256")
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert rule_of(s3, "boto-sse-s3") == {"SSEAlgorithm": "AES256"}


def test_sse_kms_with_existing_key(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-sse-kms")
    s3.put_bucket_encryption(
        Bucket="boto-sse-kms", ServerSideEncryptionConfiguration=sse("aws:kms", "bucket-key")
    )
    assert rule_of(s3, "boto-sse-kms") == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": "bucket-key",
    }
    # The KMS sees the bucket as a reference to the key.
    impact = deployment.admin("GET", "/kms/keys/bucket-key?impact=true")
    assert impact.status_code == 200, impact.text
    references = impact.json()["impact"]["references"]
    assert {"kind": "bucket-default-encryption", "id": "boto-sse-kms"} in [
        {"kind": ref["kind"], "id": ref["id"]} for ref in references
    ]


def test_sse_kms_with_missing_key(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-missing-key")
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_encryption(
            Bucket="boto-missing-key",
            ServerSideEncryptionConfiguration=sse("aws:kms", "no-such-key"),
        )
    assert error_of(refused) == (400, "InvalidArgument")
    assert "no-such-key" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as none:
        s3.get_bucket_encryption(Bucket="boto-missing-key")
    assert error_of(none) == (400, "ServerSideEncryptionConfigurationNotFoundError")


def test_sse_kms_without_key_id(deployment: Deployment) -> None:
    """No default key → 500; default key → filled in; KMS stopped → 500 not initialized."""
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-default-key")
    with pytest.raises(ClientError) as no_default:
        s3.put_bucket_encryption(
            Bucket="boto-default-key", ServerSideEncryptionConfiguration=sse("aws:kms")
        )
    assert error_of(no_default) == (500, "InternalError")
    assert no_default.value.response["Error"]["Message"] == "KMS default key not configured"

    reconfigure = {
        "backend_type": "Local",
        "key_dir": str(deployment.key_dir),
        "default_key_id": "bucket-key",
    }
    answer = deployment.admin("POST", "/kms/reconfigure", reconfigure)
    assert answer.status_code == 200 and answer.json()["success"], answer.text
    s3.put_bucket_encryption(
        Bucket="boto-default-key", ServerSideEncryptionConfiguration=sse("aws:kms")
    )
    assert rule_of(s3, "boto-default-key") == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": "bucket-key",
    }

    assert deployment.admin("POST", "/kms/stop").json()["success"]
    try:
        with pytest.raises(ClientError) as stopped:
            s3.put_bucket_encryption(
                Bucket="boto-default-key", ServerSideEncryptionConfiguration=sse("aws:kms")
            )
        assert error_of(stopped) == (500, "InternalError")
        assert stopped.value.response["Error"]["Message"] == "KMS service not initialized"
        # SSE-S3 does not need the KMS.
        s3.put_bucket_encryption(
            Bucket="boto-default-key", ServerSideEncryptionConfiguration=sse("AES256")
        )
    finally:
        assert deployment.admin("POST", "/kms/start", {}).json()["success"]


def test_delete_encryption(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-delete-enc")
    s3.put_bucket_encryption(
        Bucket="boto-delete-enc", ServerSideEncryptionConfiguration=sse("AES256")
    )
    first = s3.delete_bucket_encryption(Bucket="boto-delete-enc")
    second = s3.delete_bucket_encryption(Bucket="boto-delete-enc")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as after:
        s3.get_bucket_encryption(Bucket="boto-delete-enc")
    assert error_of(after) == (400, "ServerSideEncryptionConfigurationNotFoundError")


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        ("get_bucket_encryption", {}),
        ("put_bucket_encryption", {"ServerSideEncryptionConfiguration": sse("AES256")}),
        ("delete_bucket_encryption", {}),
        ("delete_bucket", {}),
    ],
)
def test_missing_bucket(deployment: Deployment, operation: str, extra: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as missing:
        getattr(deployment.s3, operation)(Bucket="boto-never-created", **extra)
    assert error_of(missing) == (404, "NoSuchBucket")


@pytest.mark.parametrize("name", ["ab", "Bad_Name", "UPPER", "a..b", "192.168.0.1"])
def test_invalid_bucket_name(deployment: Deployment, name: str) -> None:
    with pytest.raises(ClientError) as invalid:
        deployment.s3.create_bucket(Bucket=name)
    assert error_of(invalid) == (400, "InvalidBucketName")


def test_multipart_and_copy_not_implemented(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.create_bucket(Bucket="boto-objects")
    with pytest.raises(ClientError) as multipart:
        s3.create_multipart_upload(Bucket="boto-objects", Key="a.txt")
    assert error_of(multipart) == (501, "NotImplemented")
    s3.put_object(Bucket="boto-objects", Key="a.txt", Body=b"hello")
    with pytest.raises(ClientError) as copy:
        source = {"Bucket": "boto-objects", "Key": "a.txt"}
        s3.copy_object(Bucket="boto-objects", Key="b.txt", CopySource=source)
    assert error_of(copy) == (501, "NotImplemented")


def test_buckets_survive_restart(tmp_path: Path) -> None:
    with running_serve(tmp_path / "data") as served:
        s3 = s3_client(served.endpoint, served.access_key, served.secret_key)
        s3.create_bucket(Bucket="durable")
        s3.put_bucket_encryption(Bucket="durable", ServerSideEncryptionConfiguration=sse("AES256"))
    with running_serve(tmp_path / "data") as served:
        s3 = s3_client(served.endpoint, served.access_key, served.secret_key)
        assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["durable"]
        assert rule_of(s3, "durable") == {"SSEAlgorithm": "AES256"}
