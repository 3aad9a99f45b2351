"""The doctor's checklist: every check an operator makes by hand, in order, with a fix for each.

Shared by ``kms-tui doctor`` (which prints it) and the console's Service screen (which shows
it); no printing here. The checks, in order:

1. the endpoint answers (an unsigned request: anything that answers HTTP counts)
2. the credentials are accepted (a signed request)
3. the clocks agree (the server's ``Date`` against this machine's clock; SigV4 allows 15 min)
4. the KMS is configured and running
5. the backend is healthy
6. the default key exists and is enabled
7. no bucket's default encryption names a key that is missing, disabled or pending deletion
8. every node has the same configuration
9. with a probe bucket (writes): the bucket really encrypts a new object as its default says

A check that cannot run because an earlier one failed is ``skipped``. Outcomes: ``ok``,
``warning`` (works, but worth a look), ``failed``, ``skipped``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryption, BucketEncryptionClient
    from kms_tui.api.errors import KmsError
    from kms_tui.api.service_models import KmsStatus, ServiceStatus

__all__ = ["TITLES", "Check", "DoctorTarget", "checks"]

IN_FLIGHT = 8


class DoctorTarget(Protocol):
    """The server the checklist examines: its clients and where it is."""

    @property
    def endpoint(self) -> str: ...

    @property
    def verify(self) -> bool | str: ...

    @property
    def admin(self) -> KmsAdminClient: ...

    @property
    def buckets(self) -> BucketEncryptionClient: ...

    @property
    def label(self) -> str: ...

    @property
    def bootstrap_error(self) -> KmsError | None: ...


@dataclass(frozen=True, slots=True)
class _KeyCheck:
    state: str | None  # None: the key does not exist
    problem: str | None  # None: the key can encrypt new objects


async def _key_states(admin: KmsAdminClient, key_ids: Iterable[str]) -> dict[str, _KeyCheck]:
    """Whether each key can encrypt new data, and if not, why (missing, disabled, pending)."""
    from kms_tui.api.errors import KmsNotFound
    from kms_tui.api.wire import KeyState

    gate = asyncio.Semaphore(IN_FLIGHT)
    found: dict[str, _KeyCheck] = {}

    async def one(key_id: str) -> None:
        async with gate:
            try:
                meta = (await admin.describe_key(key_id)).metadata
            except KmsNotFound:
                found[key_id] = _KeyCheck(None, f"key {key_id} is missing")
                return
        state = meta.key_state
        reason: str | None
        if state is KeyState.ENABLED:
            reason = None
        elif state is KeyState.PENDING_DELETION:
            due = meta.deletion_date
            when = f", due {due.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if due else ""
            reason = f"pending deletion{when}"
        else:
            reason = state.value.lower()
        found[key_id] = _KeyCheck(state.value, f"key {key_id} is {reason}" if reason else None)

    await asyncio.gather(*(one(key_id) for key_id in dict.fromkeys(key_ids)))
    return found


CLOCK_LIMIT_SECONDS = 15 * 60
CLOCK_WARN_SECONDS = 60
PROBE_TIMEOUT_SECONDS = 10.0

TITLES = {
    "endpoint": "the endpoint answers",
    "credentials": "the credentials are accepted",
    "clock": "the clocks agree",
    "service": "the KMS is configured and running",
    "backend": "the backend is healthy",
    "default_key": "the default key exists and is enabled",
    "bucket_keys": "bucket defaults name usable keys",
    "cluster": "every node has the same configuration",
    "probe": "the bucket encrypts new objects",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    id: str
    outcome: str  # ok | warning | failed | skipped
    detail: str
    fix: str | None = None

    @property
    def title(self) -> str:
        """The check in words."""
        return TITLES[self.id]

    def record(self) -> dict[str, Any]:
        """The JSON shape."""
        return {
            "id": self.id,
            "title": self.title,
            "outcome": self.outcome,
            "detail": self.detail,
            "fix": self.fix,
        }


def _ok(check_id: str, detail: str) -> Check:
    return Check(check_id, "ok", detail)


def _failed(check_id: str, detail: str, fix: str | None) -> Check:
    return Check(check_id, "failed", detail, fix)


def _skipped(check_id: str, why: str) -> Check:
    return Check(check_id, "skipped", why)


@dataclass
class _Answer:
    status: int
    server_time: datetime | None
    local_time: datetime


async def _probe(endpoint: str, verify: bool | str) -> _Answer:
    """One unsigned GET: whether anything answers, and the server's clock."""
    import httpx

    tls: bool | ssl.SSLContext = False
    if endpoint.startswith("https://"):
        tls = verify if isinstance(verify, bool) else ssl.create_default_context(cafile=verify)
    async with httpx.AsyncClient(
        verify=tls, timeout=PROBE_TIMEOUT_SECONDS, follow_redirects=False
    ) as http:
        sent = time.time()
        response = await http.get(endpoint + "/rustfs/admin/v3/kms/service-status")
        received = time.time()
    server_time = None
    header = response.headers.get("date")
    if header:
        try:
            server_time = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            server_time = None
    local = datetime.fromtimestamp((sent + received) / 2, UTC)
    return _Answer(response.status_code, server_time, local)


def _endpoint_failure(endpoint: str, err: Exception) -> Check:
    import httpx

    text = str(err) or type(err).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(err, ssl.SSLCertVerificationError):
        fix = (
            "the server's TLS certificate is not trusted: set ca_bundle in the profile to the "
            "CA certificate that signed it"
        )
    elif isinstance(err, httpx.TimeoutException):
        fix = (
            f"nothing answered within {PROBE_TIMEOUT_SECONDS:g} s: check the host and port, "
            "and that no firewall drops the connection"
        )
    else:
        fix = (
            f"nothing accepts connections at {endpoint}: check the URL (scheme, host, port) "
            "and that the server is running"
        )
    return _failed("endpoint", f"{endpoint}: {text}", fix)


def _clock_check(answer: _Answer | None, skew_refused: bool) -> Check:
    if skew_refused:
        return _failed(
            "clock",
            "the server refused the request's time (RequestTimeTooSkewed)",
            "set the clocks of this machine and the server right (e.g. with NTP)",
        )
    if answer is None or answer.server_time is None:
        return _ok("clock", "the server accepted the signed request's time (it sends no Date)")
    skew = (answer.server_time - answer.local_time).total_seconds()
    words = f"the server's clock is {abs(skew):.0f} s {'ahead' if skew > 0 else 'behind'}"
    if abs(skew) > CLOCK_LIMIT_SECONDS:
        return _failed(
            "clock",
            f"{words}; SigV4 allows 15 minutes, so signed requests are refused",
            "set the clocks of this machine and the server right (e.g. with NTP)",
        )
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Check(
            "clock",
            "warning",
            f"{words}; still within the 15 minutes SigV4 allows",
            "keep both clocks in sync (NTP) before the difference grows",
        )
    return _ok("clock", f"within {max(abs(skew), 1):.0f} s of this machine")


def _service_check(status: ServiceStatus) -> Check:
    from kms_tui.api.wire import ServiceState

    backend = status.backend_type.value if status.backend_type is not None else "no backend"
    if status.state is ServiceState.RUNNING:
        return _ok("service", f"Running ({backend})")
    if status.state is ServiceState.NOT_CONFIGURED:
        return _failed(
            "service",
            "NotConfigured: no KMS backend is configured",
            "configure a backend (the console's Service screen, `c`), then start it",
        )
    if status.state is ServiceState.CONFIGURED:
        return _failed(
            "service",
            f"Configured ({backend}) but stopped",
            "start it (the console's Service screen, `s`)",
        )
    return _failed(
        "service",
        f"{status.state.value}: {status.error_message or 'no message'}",
        "read the server's log for the cause, fix the backend, then reconfigure or restart",
    )


def _backend_check(status: ServiceStatus, kms: KmsStatus) -> Check:
    from kms_tui.api.wire import BackendHealth

    if kms.backend_status is BackendHealth.HEALTHY and status.healthy is not False:
        return _ok("backend", f"{kms.backend_type.value}: healthy")
    return _failed(
        "backend",
        f"{kms.backend_type.value}: {kms.backend_status.value}",
        "check the backend itself (the key directory's disk and permissions, or the Vault "
        "server and its token); the server's log says what failed",
    )


async def _default_key_check(session: DoctorTarget, default_key: str | None) -> Check:
    from kms_tui.api.wire import KeyState

    if default_key is None:
        found = await _key_states(session.admin, ["default"])
        if found["default"].state == KeyState.ENABLED.value:
            return _ok("default_key", "none configured; SSE-S3 uses the enabled key 'default'")
        return Check(
            "default_key",
            "warning",
            "no default key is configured: SSE-S3, and SSE-KMS without a key id, are refused",
            "set default_key_id in the KMS configuration to an enabled key",
        )
    check = (await _key_states(session.admin, [default_key]))[default_key]
    if check.state is None:
        return _failed(
            "default_key",
            f"the default key {default_key} does not exist",
            f"create it, or set default_key_id to an existing key (kms-tui keys create "
            f"--name {default_key})",
        )
    if check.problem:
        fix = (
            f"cancel its deletion: kms-tui keys undelete {default_key}"
            if check.state == KeyState.PENDING_DELETION.value
            else f"enable it: kms-tui keys enable {default_key}"
        )
        return _failed("default_key", f"the default {check.problem}", fix)
    return _ok("default_key", f"{default_key}: Enabled")


@dataclass(frozen=True, slots=True)
class _BucketRow:
    name: str
    encryption: BucketEncryption | None
    error: KmsError | None = None


async def _bucket_defaults(client: BucketEncryptionClient) -> list[_BucketRow]:
    """Every bucket with its default encryption, read a few at a time."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    names = [bucket.name for bucket in await client.list_buckets()]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(name: str) -> _BucketRow:
        async with gate:
            try:
                return _BucketRow(name, await client.get_bucket_encryption(name))
            except KmsTransportError:
                raise
            except KmsError as err:
                return _BucketRow(name, None, err)

    return list(await asyncio.gather(*(one(name) for name in names)))


async def _bucket_keys_check(session: DoctorTarget) -> Check:
    from kms_tui.api.errors import KmsError, KmsTransportError

    try:
        rows = await _bucket_defaults(session.buckets)
    except KmsTransportError:
        raise
    except KmsError as err:
        return _failed(
            "bucket_keys",
            f"the buckets could not be listed: {err.message}",
            err.hint or "give these credentials s3:ListAllMyBuckets and GetEncryptionConfiguration",
        )
    named = {
        row.name: row.encryption.kms_key_id
        for row in rows
        if row.encryption is not None and row.encryption.is_sse_kms and row.encryption.kms_key_id
    }
    found = await _key_states(session.admin, named.values())
    problems = [
        f"{bucket}: {found[key_id].problem}"
        for bucket, key_id in named.items()
        if found[key_id].problem
    ]
    unreadable = [f"{row.name}: default unreadable" for row in rows if row.error is not None]
    if problems or unreadable:
        return _failed(
            "bucket_keys",
            "; ".join(problems + unreadable),
            "point each bucket at a usable key (kms-tui buckets encrypt BUCKET --kms-key KEY), "
            "or make its key usable again (kms-tui keys enable / keys undelete)",
        )
    return _ok(
        "bucket_keys",
        f"{len(rows)} bucket(s), {len(named)} naming a KMS key, every named key usable",
    )


def _cluster_check(kms: KmsStatus) -> Check:
    cluster = kms.cluster_config
    if cluster is None:
        return _skipped("cluster", "the server does not report its nodes' configuration")
    if cluster.consistent:
        return _ok("cluster", f"{len(cluster.nodes)} node(s) run the same configuration")
    differing = ", ".join(
        f"{node.host} ({node.error or node.fingerprint or 'unknown'})" for node in cluster.nodes
    )
    return _failed(
        "cluster",
        f"the nodes' configurations differ: {differing}",
        "reconfigure the nodes that differ so every node runs the same KMS configuration",
    )


async def _probe_check(session: DoctorTarget, bucket: str, default_key: str | None) -> Check:
    from kms_tui.api.verify import Verdict, check_bucket_encryption

    result = await check_bucket_encryption(session.buckets, bucket, default_key_id=default_key)
    if result.ok:
        return _ok("probe", f"{bucket}: {result.detail}")
    if result.verdict is Verdict.NOT_ENCRYPTED:
        fix = f"set a default: kms-tui buckets encrypt {bucket} --sse-s3 (or --kms-key KEY)"
    elif result.verdict is Verdict.OTHER_KEY:
        fix = "check the bucket's default and the KMS default key; set the one you meant"
    else:
        fix = "see the failed step; the key the default names must be enabled"
    return _failed("probe", f"{bucket}: {result.detail}", fix)


async def checks(session: DoctorTarget, probe_bucket: str | None = None) -> list[Check]:
    """Run the checklist in order (later checks skipped when an earlier one makes them moot)."""
    from kms_tui.api.errors import KmsAccessDenied, KmsClockSkewError, KmsError
    from kms_tui.api.wire import ServiceState

    results: list[Check] = []
    remaining = ["credentials", "clock", "service", "backend", "default_key", "bucket_keys"]
    remaining += ["cluster"] + (["probe"] if probe_bucket else [])

    def skip_rest(why: str) -> list[Check]:
        done = {check.id for check in results}
        return results + [_skipped(name, why) for name in remaining if name not in done]

    if session.bootstrap_error is not None:
        results.append(
            _failed(
                "endpoint",
                f"the embedded server could not be set up: {session.bootstrap_error.message}",
                "follow the message above (it names the file to restore or move)",
            )
        )
        return skip_rest("the embedded server is not set up")
    try:
        answer = await _probe(session.endpoint, session.verify)
    except Exception as err:
        import httpx

        if not isinstance(err, httpx.HTTPError | OSError | ssl.SSLError):
            raise
        results.append(_endpoint_failure(session.endpoint, err))
        return skip_rest("the endpoint does not answer")
    results.append(_ok("endpoint", f"{session.endpoint} answers (HTTP {answer.status})"))

    try:
        status = await session.admin.service_status()
    except KmsClockSkewError:
        results.append(_skipped("credentials", "the server refused the request's time first"))
        results.append(_clock_check(answer, skew_refused=True))
        return skip_rest("signed requests are refused")
    except KmsAccessDenied as err:
        if not err.is_policy_refusal:
            results.append(_failed("credentials", err.message, err.hint))
            results.append(_clock_check(answer, skew_refused=False))
            return skip_rest("the credentials are refused")
        # Signed and accepted, but this account may not read the service status.
        results.append(_ok("credentials", f"signed requests are accepted ({session.label})"))
        results.append(_clock_check(answer, skew_refused=False))
        results.append(
            _failed(
                "service",
                "denied for this account (kms:ServiceControl): the KMS checks read the service "
                "status",
                "run the checks with an account allowed kms:ServiceControl (e.g. consoleAdmin)",
            )
        )
        return skip_rest("this account may not read the KMS status")
    except KmsError as err:
        results.append(
            _failed(
                "credentials",
                f"the admin API did not answer: {err}",
                err.hint
                or "check that the endpoint is a RustFS server (admin API under /rustfs/admin/v3)",
            )
        )
        return skip_rest("the admin API does not answer")
    results.append(_ok("credentials", f"signed requests are accepted ({session.label})"))
    results.append(_clock_check(answer, skew_refused=False))
    results.append(_service_check(status))
    if status.state is not ServiceState.RUNNING:
        return skip_rest("the KMS is not running")
    try:
        kms = await session.admin.status()
    except KmsError as err:
        results.append(_failed("backend", f"/kms/status failed: {err}", err.hint))
        return skip_rest("the KMS status could not be read")
    results.append(_backend_check(status, kms))
    summary = status.config_summary
    default_key = kms.default_key_id or (summary.default_key_id if summary else None)
    results.append(await _default_key_check(session, default_key))
    results.append(await _bucket_keys_check(session))
    results.append(_cluster_check(kms))
    if probe_bucket:
        results.append(await _probe_check(session, probe_bucket, default_key))
    return results
