"""Server-side encryption of objects, as RustFS does it (reference rustfs-object-sse.md §1-§5).

Which key protects a new object: the request's ``x-amz-server-side-encryption`` (and
``-aws-kms-key-id``), else the bucket default's first rule, else none (the object is stored
unencrypted). ``aws:kms`` without a key id takes the bucket default's key, then the KMS default
key; ``AES256`` (SSE-S3) is keyed by the KMS default key, or a key literally named ``default``
when none is configured. Each object gets a data key from this server's own KMS
(``generate_data_key``, spec AES_256) under the context ``{"<bucket>": "<bucket>/<key>"}``,
merged under the client's ``x-amz-server-side-encryption-context`` for ``aws:kms``; only the
wrapped key (the KMS envelope, naming its master key) is kept, under RustFS's names (§2.3).

Deliberately not replicated (§1.3, bugs fixed later upstream): an explicit ``AES256`` into a
bucket whose default is ``aws:kms`` with a key does not inherit that key id (so it is not
refused), and valid SSE-C headers are not refused for a bucket's default encryption. Newer
upstream answers are used where the issue chose them: a missing key is 400
``KMS.NotFoundException`` (#7423), ``aws:kms`` with no key anywhere on a running KMS is 400
``InvalidRequest`` (#7697), a stopped or unconfigured KMS is 503 for PUT and GET alike. There is
no local-provider fallback (``RUSTFS_SSE_S3_MASTER_KEY``): SSE needs the running KMS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from kms_tui.embedded.objects_common import INTERNAL_ERROR_MESSAGE, S3Failure
from kms_tui.embedded.objects_format import NONCE_BYTES
from kms_tui.embedded.objects_store import ObjectMeta
from kms_tui.embedded.service_keys import KmsOpError

__all__ = [
    "SSE",
    "SSEC_HEADERS",
    "SSE_AES256",
    "SSE_KEY_ID",
    "SSE_KMS",
    "DataKeyMaterial",
    "KmsForObjects",
    "WriteSse",
    "check_read_headers",
    "check_sse_c_put",
    "has_sse_c_headers",
    "new_data_key",
    "parse_write_sse",
    "read_headers",
    "stored_encryption",
    "unwrap_data_key",
    "write_headers",
]

SSE_AES256 = "AES256"
SSE_KMS = "aws:kms"
SSE = "x-amz-server-side-encryption"
SSE_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
SSE_CONTEXT = "x-amz-server-side-encryption-context"
SSE_BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
SSEC_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
SSEC_KEY = "x-amz-server-side-encryption-customer-key"
SSEC_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
SSEC_HEADERS = (SSEC_ALGORITHM, SSEC_KEY, SSEC_KEY_MD5)
_MANAGED_HEADERS = (SSE, SSE_KEY_ID, SSE_CONTEXT)

META_KEY_ID = "x-rustfs-encryption-key-id"
META_KEY = "x-rustfs-encryption-key"
META_IV = "x-rustfs-encryption-iv"
META_ALGORITHM = "x-rustfs-encryption-algorithm"
META_ORIGINAL_SIZE = "x-rustfs-encryption-original-size"
META_CONTEXT = "x-rustfs-encryption-context"
META_MINIO_CONTEXT = "X-Minio-Internal-Server-Side-Encryption-Context"
SSE_S3_FALLBACK_KEY = "default"

_UNSUPPORTED_ALGORITHM = (
    "The SSE algorithm specified is not supported. The valid values are AES256 or aws:kms."
)
_KEY_ID_NEEDS_KMS = (
    "The SSE-KMS key ID header can only be used when x-amz-server-side-encryption is set to "
    "aws:kms."
)
_CONTEXT_NEEDS_KMS = (
    "The SSE-KMS context header can only be used when x-amz-server-side-encryption is set to "
    "aws:kms."
)
_UNAVAILABLE = "The service is unavailable. Please retry."

logger = logging.getLogger("kms_tui.embedded.objects")


class DataKeys(Protocol):
    """The two key operations objects need (``KmsService.keys``)."""

    def generate_data_key(
        self, key_id: str, key_spec: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]: ...

    def decrypt(self, blob: bytes, context: Mapping[str, str]) -> tuple[str, bytes]: ...


class KmsForObjects(Protocol):
    """What the object routes need from the KMS service."""

    @property
    def is_running(self) -> bool: ...

    def default_key_id(self) -> str | None: ...

    @property
    def keys(self) -> DataKeys: ...


@dataclass(frozen=True, slots=True)
class WriteSse:
    """The encryption a PUT asks for, after the bucket default was applied."""

    algorithm: str | None  # None: store unencrypted
    key_id: str | None  # aws:kms: from the request or the bucket default (None: the KMS default)
    client_context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DataKeyMaterial:
    """A fresh data key for one object (the plaintext key never leaves memory)."""

    algorithm: str
    key_id: str
    data_key: bytes = field(repr=False)
    envelope: bytes
    base_nonce: bytes
    client_context: Mapping[str, str]


def _unavailable() -> S3Failure:
    return S3Failure(503, "ServiceUnavailable", _UNAVAILABLE)


def _present(headers: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in headers]


def has_sse_c_headers(headers: Mapping[str, str]) -> bool:
    """Whether the request carries any SSE-C header."""
    return bool(_present(headers, SSEC_HEADERS))


def check_sse_c_put(headers: Mapping[str, str]) -> NoReturn:
    """Validate SSE-C headers as RustFS does (§1.2), then refuse SSE-C itself (501)."""
    if _present(headers, _MANAGED_HEADERS):
        raise S3Failure(
            400,
            "InvalidArgument",
            "The SSE-C and managed server-side encryption headers cannot be used together.",
        )
    if len(_present(headers, SSEC_HEADERS)) != len(SSEC_HEADERS):
        raise S3Failure(
            400,
            "InvalidRequest",
            "Missing SSE-C parameters. Algorithm, customer key and customer key MD5 are all "
            "required.",
        )
    if headers[SSEC_ALGORITHM] != SSE_AES256:
        raise S3Failure(
            400, "InvalidRequest", "Unsupported SSE-C algorithm. Only AES256 is supported."
        )
    try:
        customer_key = base64.b64decode(headers[SSEC_KEY], validate=True)
    except (binascii.Error, ValueError):
        raise S3Failure(400, "InvalidRequest", "Invalid SSE-C key: not valid Base64.") from None
    if len(customer_key) != 32:
        raise S3Failure(
            400,
            "InvalidRequest",
            f"SSE-C key must be 32 bytes (256 bits), got {len(customer_key)} bytes.",
        )
    expected = base64.b64encode(hashlib.md5(customer_key).digest()).decode()
    if not hmac.compare_digest(expected.encode(), headers[SSEC_KEY_MD5].strip().encode()):
        raise S3Failure(
            400,
            "InvalidRequest",
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )
    raise S3Failure(
        501,
        "NotImplemented",
        "SSE-C is not supported by this server: use SSE-S3 (AES256) or SSE-KMS (aws:kms).",
    )


def _client_context(value: str) -> dict[str, str]:
    try:
        document = json.loads(base64.b64decode(value.strip(), validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise S3Failure(
            400,
            "InvalidArgument",
            "The SSE-KMS context header must be valid base64-encoded JSON.",
        ) from None
    if not isinstance(document, dict) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in document.items()
    ):
        raise S3Failure(
            400,
            "InvalidArgument",
            "The SSE-KMS context header must be a base64-encoded JSON object.",
        )
    return document


def parse_write_sse(
    headers: Mapping[str, str], bucket_algorithm: str | None, bucket_key_id: str | None
) -> WriteSse:
    """The effective encryption of a PUT (§1.1-§1.3), or the 400 RustFS answers."""
    requested = headers.get(SSE)
    if requested is not None and requested not in (SSE_AES256, SSE_KMS):
        raise S3Failure(400, "InvalidArgument", _UNSUPPORTED_ALGORITHM)
    bucket_key = headers.get(SSE_BUCKET_KEY)
    if bucket_key is not None and bucket_key not in ("true", "false"):
        raise S3Failure(400, "InvalidArgument", f"invalid header: {SSE_BUCKET_KEY}")
    if requested is not None:
        effective: str | None = requested
    elif bucket_algorithm is not None:
        effective = SSE_KMS if bucket_algorithm == SSE_KMS else SSE_AES256
    else:
        effective = None
    key_header = headers.get(SSE_KEY_ID)
    context_header = headers.get(SSE_CONTEXT)
    if key_header is not None and effective != SSE_KMS:
        raise S3Failure(400, "InvalidArgument", _KEY_ID_NEEDS_KMS)
    if context_header is not None and effective != SSE_KMS:
        raise S3Failure(400, "InvalidArgument", _CONTEXT_NEEDS_KMS)
    context = _client_context(context_header) if context_header is not None else {}
    key_id: str | None = None
    if effective == SSE_KMS:
        key_id = (key_header or "").strip() or None
        if key_id is None and bucket_algorithm == SSE_KMS:
            key_id = bucket_key_id or None
    return WriteSse(effective, key_id, context)


def _context(bucket: str, key: str, client: Mapping[str, str]) -> dict[str, str]:
    context = {bucket: f"{bucket}/{key}"}
    context.update(client)  # a client entry named like the bucket wins (§2.1)
    return context


def new_data_key(
    kms: KmsForObjects, write: WriteSse, bucket: str, key: str
) -> DataKeyMaterial | None:
    """A data key for a new object under the resolved master key (None: unencrypted)."""
    if write.algorithm is None:
        return None
    if not kms.is_running:
        raise _unavailable()
    if write.algorithm == SSE_KMS:
        key_id = write.key_id or kms.default_key_id()
        if not key_id:
            raise S3Failure(
                400,
                "InvalidRequest",
                "No KMS key is available for SSE-KMS: the request and the bucket's default "
                "encryption name no key, and the KMS has no default key configured.",
            )
        client_context = dict(write.client_context)
    else:
        key_id = kms.default_key_id() or SSE_S3_FALLBACK_KEY
        client_context = {}
    context = _context(bucket, key, client_context)
    try:
        data_key, envelope = kms.keys.generate_data_key(key_id, "Aes256", context)
    except KmsOpError as err:
        logger.info("no data key for %s/%s under %r: %s", bucket, key, key_id, err)
        if err.kind == "not_running":
            raise _unavailable() from None
        if err.kind == "not_found":
            raise S3Failure(
                400, "KMS.NotFoundException", f"Key '{key_id}' does not exist"
            ) from None
        raise S3Failure(500, "InternalError", INTERNAL_ERROR_MESSAGE) from None
    return DataKeyMaterial(
        algorithm=write.algorithm,
        key_id=key_id,
        data_key=data_key,
        envelope=envelope,
        base_nonce=os.urandom(NONCE_BYTES),
        client_context=client_context,
    )


def stored_encryption(material: DataKeyMaterial, size: int) -> dict[str, str]:
    """The internal metadata kept beside the ciphertext, under RustFS's names (§2.3)."""
    stored = {SSE: material.algorithm}
    if material.algorithm == SSE_KMS:
        stored[SSE_KEY_ID] = material.key_id
    stored.update(
        {
            META_KEY_ID: material.key_id,
            META_KEY: base64.b64encode(material.envelope).decode("ascii"),
            META_IV: base64.b64encode(material.base_nonce).decode("ascii"),
            META_ALGORITHM: material.algorithm,
            META_ORIGINAL_SIZE: str(size),
        }
    )
    if material.client_context:
        document = json.dumps(dict(material.client_context), separators=(",", ":"))
        stored[META_CONTEXT] = document
        stored[META_MINIO_CONTEXT] = base64.b64encode(document.encode()).decode("ascii")
    return stored


def write_headers(material: DataKeyMaterial | None) -> tuple[tuple[str, str], ...]:
    """PutObject's SSE answer headers (§1.6): the key id for SSE-S3 too."""
    if material is None:
        return ()
    return ((SSE, material.algorithm), (SSE_KEY_ID, material.key_id))


def read_headers(meta: ObjectMeta, *, head: bool) -> tuple[tuple[str, str], ...]:
    """GET's and HEAD's SSE answer headers (§3.1): HEAD names the key only for SSE-KMS."""
    stored = meta.encryption
    if stored is None:
        return ()
    algorithm = stored.get(SSE, "")
    answer = [(SSE, algorithm)]
    key_id = stored.get(SSE_KEY_ID) if algorithm == SSE_KMS else stored.get(META_KEY_ID)
    if key_id is not None and (algorithm == SSE_KMS or not head):
        answer.append((SSE_KEY_ID, key_id))
    return tuple(answer)


def check_read_headers(headers: Mapping[str, str], meta: ObjectMeta) -> None:
    """GET and HEAD refuse SSE request headers (§3.3); no object here is SSE-C."""
    if _present(headers, _MANAGED_HEADERS):
        raise S3Failure(
            400,
            "InvalidArgument",
            "The object is not encrypted with server-side encryption. Do not provide "
            "server-side encryption headers.",
        )
    if _present(headers, SSEC_HEADERS):
        if meta.encrypted:
            raise S3Failure(
                400,
                "InvalidArgument",
                "SSE-C headers cannot be used with an object encrypted using server-side "
                "managed encryption.",
            )
        raise S3Failure(
            400,
            "InvalidRequest",
            "The object was stored without SSE-C. Do not provide SSE-C headers to read it.",
        )


def unwrap_data_key(
    kms: KmsForObjects, meta: ObjectMeta, bucket: str, key: str
) -> tuple[bytes, bytes]:
    """(data key, base nonce) of an encrypted object, unwrapped by the KMS."""
    stored = meta.encryption or {}
    key_id = stored.get(META_KEY_ID) or stored.get(SSE_KEY_ID) or "?"
    if not kms.is_running:
        raise _unavailable()
    try:
        envelope = base64.b64decode(stored[META_KEY], validate=True)
        nonce = base64.b64decode(stored[META_IV], validate=True)
        client = json.loads(stored[META_CONTEXT]) if META_CONTEXT in stored else {}
        if not isinstance(client, dict):
            raise ValueError("stored context is not a map")
    except (KeyError, binascii.Error, ValueError) as err:
        logger.error("object %s/%s has damaged encryption metadata: %s", bucket, key, err)
        raise S3Failure(
            500,
            "InternalError",
            f"The object's encryption metadata is damaged; it cannot be decrypted (KMS key "
            f"'{key_id}').",
        ) from None
    try:
        _master, data_key = kms.keys.decrypt(envelope, _context(bucket, key, client))
    except KmsOpError as err:
        logger.warning("cannot unwrap the data key of %s/%s: %s", bucket, key, err)
        if err.kind == "not_running":
            raise _unavailable() from None
        if err.kind == "not_found":
            raise S3Failure(
                500,
                "InternalError",
                f"The object's KMS key '{key_id}' no longer exists, so the object cannot be "
                "decrypted.",
            ) from None
        raise S3Failure(
            500,
            "InternalError",
            f"The object's data key could not be unwrapped with KMS key '{key_id}', so the "
            "object cannot be decrypted.",
        ) from None
    return data_key, nonce
