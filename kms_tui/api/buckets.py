"""Buckets and their default encryption, over the standard S3 API with botocore's own S3 client.

RustFS stores bucket default encryption through the ordinary S3 calls (``/{bucket}?encryption``),
not the admin API, so this client drives botocore's S3 client (path-style addressing, SigV4)
rather than hand-written XML. botocore is blocking and slow to set up, so the client is built
on first use in a worker thread and every call runs through :func:`asyncio.to_thread`.

The botocore session is hermetic: it reads no ``~/.aws`` files and no ``AWS_*`` variables, and
the credentials are always the ones passed in.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeAlias, TypeVar

from kms_tui.api.errors import (
    KmsConnectionError,
    KmsError,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsNotFound,
    KmsResponseError,
    KmsTimeoutError,
    KmsTransportError,
    describe_body,
    error_class_for,
    is_html,
    parse_error_body,
)

# botocore builds S3 client methods at run time and no S3 stubs are installed, so the client
# is typed loosely; every answer is read defensively at this boundary.
S3Client: TypeAlias = Any

__all__ = [
    "SSE_KMS",
    "SSE_S3",
    "Bucket",
    "BucketEncryption",
    "BucketEncryptionClient",
    "translate_botocore_error",
    "validate_bucket_name",
]

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
_ALGORITHMS = (SSE_S3, SSE_KMS)

# GetBucketEncryption with nothing configured: RustFS says 400, MinIO and moto say 404.
NO_ENCRYPTION_CODE = "ServerSideEncryptionConfigurationNotFoundError"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket as ListBuckets reports it."""

    name: str
    creation_date: datetime | None


@dataclass(frozen=True, slots=True)
class BucketEncryption:
    """A bucket's default encryption; ``algorithm`` is kept as the server spelled it."""

    algorithm: str
    kms_key_id: str | None = None

    @property
    def is_sse_kms(self) -> bool:
        """Whether objects are encrypted under a KMS key (``aws:kms``)."""
        return self.algorithm == SSE_KMS

    @property
    def is_sse_s3(self) -> bool:
        """Whether objects are encrypted with server-managed keys (``AES256``)."""
        return self.algorithm == SSE_S3

    @property
    def label(self) -> str:
        """Short name for tables: ``SSE-S3``, ``SSE-KMS`` or the server's own spelling."""
        if self.is_sse_s3:
            return "SSE-S3"
        if self.is_sse_kms:
            return "SSE-KMS"
        return self.algorithm


# ---------------------------------------------------------------------------------------------
# Bucket names

_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket_name(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a bucket name, or None when it is acceptable."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long (it has {len(name)})"
    if not _BUCKET_CHARS.match(name):
        return "may contain only lowercase letters, digits, '.' and '-'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must start and end with a lowercase letter or a digit"
    if ".." in name:
        return "must not contain two periods in a row"
    if _IP_LIKE.match(name):
        return "must not look like an IP address"
    if name.startswith("xn--"):
        return "must not start with 'xn--'"
    if name.endswith("-s3alias"):
        return "must not end with '-s3alias'"
    return None


def _as_utc(value: object) -> datetime | None:
    """Aware UTC creation dates, whatever zone botocore's parser attached."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _require_bucket_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"bucket: expected a bucket name string, got {type(name).__name__}")
    problem = validate_bucket_name(name)
    if problem:
        raise ValueError(f"bucket: the name {name!r} {problem}")
    return name


# ---------------------------------------------------------------------------------------------
# Errors


def translate_botocore_error(err: BaseException) -> KmsError:
    """Map one botocore failure onto the :mod:`kms_tui.api.errors` tree."""
    from botocore import exceptions as bex
    from botocore.parsers import ResponseParserError

    if isinstance(err, bex.ClientError):
        return _from_client_error(err)
    if isinstance(err, bex.ConnectTimeoutError | bex.ReadTimeoutError):
        return KmsTimeoutError(f"the server did not answer in time: {err}")
    if isinstance(err, bex.SSLError):
        if _is_untrusted_certificate(err):
            return KmsConnectionError(
                "TLS failed: the server's certificate is not trusted; set ca_bundle in the "
                f"profile to the CA certificate (PEM) that signed it ({err})"
            )
        return KmsConnectionError(f"TLS failed: {err}")
    if isinstance(err, bex.ConnectionError | bex.ConnectionClosedError):
        return KmsConnectionError(f"cannot reach the server: {err}")
    if isinstance(err, bex.HTTPClientError):
        return KmsTransportError(f"the connection failed: {err}")
    if isinstance(err, bex.ParamValidationError):
        return KmsInvalidRequest(f"invalid request: {err}")
    if isinstance(err, ResponseParserError | bex.IncompleteReadError | bex.ChecksumError):
        return KmsResponseError(f"the server's answer could not be read: {err}")
    return KmsError(f"S3 request failed: {err}")


def _is_untrusted_certificate(err: BaseException) -> bool:
    text = str(err).lower()
    markers = (
        "certificate verify failed",
        "certificate_verify_failed",
        "self-signed",
        "self signed",
    )
    return any(marker in text for marker in markers)


def _from_client_error(err: Any) -> KmsError:
    response: Mapping[str, Any] = getattr(err, "response", None) or {}
    error: Mapping[str, Any] = response.get("Error") or {}
    metadata: Mapping[str, Any] = response.get("ResponseMetadata") or {}
    code = error.get("Code") or None
    status = metadata.get("HTTPStatusCode")
    if isinstance(code, str) and code.isdigit():
        # botocore's stand-in code for a body it could not parse (HTML from a proxy, ...).
        status = status if status is not None else int(code)
        code = None
    message = str(error.get("Message") or "")
    request_id = metadata.get("RequestId") or response.get(_BODY_REQUEST_ID) or None
    problem = response.get(_BODY_PROBLEM)
    if code is None and isinstance(problem, str):
        # Not S3 XML at all: say what came back instead of botocore's generic reason phrase.
        message = problem
    if not message:
        operation = getattr(err, "operation_name", None) or "S3 request"
        message = f"{operation} failed"
    cls = error_class_for(status, code, message)
    if cls is KmsKeyNotFound and code != "NoSuchKey" and "key" not in message.lower():
        # A bare S3 404 is about the bucket or object, not a KMS key.
        cls = KmsNotFound
    return cls(message, status=status, code=code, request_id=request_id)


# botocore keeps only the x-amz-request-id header and drops the <RequestId> of an S3 error body,
# so a before-parse hook carries the body's id along under this key.
_BODY_REQUEST_ID = "KmsTuiBodyRequestId"
# ... and what was wrong with an answer that is not S3 XML at all (HTML, JSON, text, cut short):
# botocore reports a 200 it cannot parse as "500 Internal Server Error", and reads an HTML page
# on a 200 as an empty answer (no buckets, no encryption), so such a 200 is raised here instead.
_BODY_PROBLEM = "KmsTuiBodyProblem"


def _capture_body_request_id(
    response_dict: Mapping[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Keep the request id an S3 XML error names in its body, for the error we raise."""
    status = response_dict.get("status_code") or 0
    body = response_dict.get("body")
    if not isinstance(body, bytes):
        return
    headers: Mapping[str, Any] = response_dict.get("headers") or {}
    problem = _body_problem(status, body, headers)
    if problem is not None:
        if status < 300:
            request_id = headers.get("x-amz-request-id") or None
            raise KmsResponseError(problem, status=status, request_id=request_id)
        customized_response_dict[_BODY_PROBLEM] = problem
    if status < 300:
        return
    _code, _message, request_id = parse_error_body(body)
    if request_id:
        customized_response_dict[_BODY_REQUEST_ID] = request_id


def _body_problem(status: int, body: bytes, headers: Mapping[str, Any]) -> str | None:
    """What is wrong with an answer that is not S3 XML, or None when it is (or is empty)."""
    declared = str(headers.get("content-length") or headers.get("Content-Length") or "")
    if declared.isdigit() and int(declared) > len(body):
        return (
            f"the server's answer was cut short: {len(body)} of {declared} bytes arrived "
            "before the connection closed"
        )
    text = body.strip()
    if not text or (text.startswith(b"<") and not is_html(body)):
        return None
    if is_html(body):
        return (
            f"the server answered {describe_body(body)} instead of S3 XML "
            "(a proxy or web server in front of the server?)"
        )
    if status >= 300 and not text.startswith((b"{", b"[")):
        return parse_error_body(body)[1]  # a plain-text error: its own words
    return f"the server answered {describe_body(body)} instead of S3 XML"


def _is_no_encryption(err: Any) -> bool:
    response: Mapping[str, Any] = getattr(err, "response", None) or {}
    code = (response.get("Error") or {}).get("Code")
    return bool(code == NO_ENCRYPTION_CODE)


# ---------------------------------------------------------------------------------------------
# The client


class BucketEncryptionClient:
    """Async facade over a lazily built botocore S3 client for one endpoint."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str = "us-east-1",
        session_token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        verify: bool | str = True,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError("endpoint: must start with http:// or https://")
        if not access_key:
            raise ValueError("access_key: must not be empty")
        if not secret_key:
            raise ValueError("secret_key: must not be empty")
        if not timeout > 0:
            raise ValueError("timeout: must be greater than 0")
        if retries < 0:
            raise ValueError("retries: must not be negative")
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.region = region
        self.timeout = float(timeout)
        self.retries = retries
        self.verify = verify
        self._secret_key = secret_key
        self._session_token = session_token
        self._client: S3Client | None = None
        self._client_lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, access_key={self.access_key!r}, "
            f"region={self.region!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._closed = True
        async with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    # -- operations -------------------------------------------------------------------------

    async def list_buckets(self) -> tuple[Bucket, ...]:
        """Every bucket the credentials can see, following continuation tokens if sent."""

        def call(client: S3Client) -> tuple[Bucket, ...]:
            buckets: list[Bucket] = []
            kwargs: dict[str, Any] = {}
            for _page in range(10_000):
                answer = client.list_buckets(**kwargs)
                for item in answer.get("Buckets", []):
                    created = item.get("CreationDate")
                    buckets.append(
                        Bucket(
                            name=str(item.get("Name", "")),
                            creation_date=_as_utc(created),
                        )
                    )
                token = answer.get("ContinuationToken")
                if not token:
                    break
                kwargs = {"ContinuationToken": token}
            return tuple(buckets)

        return await self._run(call)

    async def create_bucket(self, name: str) -> None:
        """Create a bucket (with a location constraint outside us-east-1, as S3 requires)."""
        bucket = _require_bucket_name(name)
        region = self.region

        def call(client: S3Client) -> None:
            if region and region != "us-east-1":
                client.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},
                )
            else:
                client.create_bucket(Bucket=bucket)

        await self._run(call)

    async def get_bucket_encryption(self, bucket: str) -> BucketEncryption | None:
        """The bucket's default encryption, or None when none is configured (400 or 404)."""
        name = _require_bucket_name(bucket)

        def call(client: S3Client) -> BucketEncryption | None:
            from botocore.exceptions import ClientError

            try:
                answer = client.get_bucket_encryption(Bucket=name)
            except ClientError as err:
                if _is_no_encryption(err):
                    return None
                raise
            rules = answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
            for rule in rules:
                default = rule.get("ApplyServerSideEncryptionByDefault")
                if default and default.get("SSEAlgorithm"):
                    return BucketEncryption(
                        algorithm=str(default["SSEAlgorithm"]),
                        kms_key_id=default.get("KMSMasterKeyID") or None,
                    )
            return None

        return await self._run(call)

    async def put_bucket_encryption(
        self, bucket: str, *, algorithm: str, kms_key_id: str | None = None
    ) -> None:
        """Set default encryption: ``AES256`` (SSE-S3) or ``aws:kms`` with an optional key id.

        ``aws:kms`` without a key id makes the server use its KMS default key.
        """
        name = _require_bucket_name(bucket)
        if algorithm not in _ALGORITHMS:
            raise ValueError(
                f"algorithm: must be {SSE_S3!r} (SSE-S3) or {SSE_KMS!r} (SSE-KMS), "
                f"not {algorithm!r}"
            )
        if kms_key_id is not None:
            if algorithm != SSE_KMS:
                raise ValueError(f"kms_key_id: only allowed with algorithm {SSE_KMS!r}")
            if not kms_key_id.strip():
                raise ValueError("kms_key_id: must not be empty (omit it for the default key)")
        default: dict[str, str] = {"SSEAlgorithm": algorithm}
        if kms_key_id is not None:
            default["KMSMasterKeyID"] = kms_key_id
        configuration: Any = {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}

        def call(client: S3Client) -> None:
            client.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=configuration
            )

        await self._run(call)

    async def delete_bucket_encryption(self, bucket: str) -> None:
        """Remove the bucket's default encryption (idempotent on RustFS)."""
        name = _require_bucket_name(bucket)

        def call(client: S3Client) -> None:
            client.delete_bucket_encryption(Bucket=name)

        await self._run(call)

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, call: Callable[[S3Client], _T]) -> _T:
        """Run one blocking botocore call in a thread and translate its failures."""
        client = await self._ensure_client()
        try:
            return await asyncio.to_thread(call, client)
        except KmsError:
            raise
        except Exception as err:
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(err, BotoCoreError | ClientError):
                raise translate_botocore_error(err) from err
            raise

    async def _ensure_client(self) -> S3Client:
        """Build the botocore client once, in a thread: creating it takes ~100 ms."""
        if self._closed:
            raise RuntimeError("BucketEncryptionClient is closed")
        async with self._client_lock:
            if self._client is None:
                self._client = await asyncio.to_thread(self._build_client)
            return self._client

    def _build_client(self) -> S3Client:
        from botocore.config import Config
        from botocore.session import Session

        # Every session variable with no environment variable and no config-file name: the
        # user's AWS_PROFILE, AWS_CONFIG_FILE and ~/.aws files cannot change this client.
        hermetic = {
            name: (None, None, default, convert)
            for name, (_file_key, _env, default, convert) in Session.SESSION_VARIABLES.items()
        }
        hermetic["config_file"] = (None, None, None, None)
        hermetic["credentials_file"] = (None, None, None, None)
        session = Session(session_vars=hermetic)
        if self.verify is False:
            # The profile chose verify_tls = false; urllib3 would otherwise warn on every
            # request, and a warning printed to stderr would tear the console's screen.
            from urllib3.exceptions import InsecureRequestWarning

            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": self.retries, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client: S3Client = session.create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self._secret_key,
            aws_session_token=self._session_token,
            verify=self.verify,
            config=config,
        )
        client.meta.events.register("before-parse.s3", _capture_body_request_id)
        return client
