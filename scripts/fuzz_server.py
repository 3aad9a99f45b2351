"""Bounded fuzz of the embedded server's admin and S3 routes, reported as numbers.

Every route the server has (read from its own route tables by ``fuzz_oracle.routed()``) is sent
requests in turn, with off-table requests between (``fuzz_requests.Schedule``): methods, paths
under both admin prefixes and the S3 namespace, queries, headers, bodies (JSON of the right and of
the wrong shape, random bytes, huge and deeply nested documents, unicode including lone
surrogates, XML), all drawn from one seeded ``random.Random``, so a seed gives the same run on
every install. Every request is SigV4-signed so it reaches the handlers (a share with
``UNSIGNED-PAYLOAD``, a few unsigned). Most go in-process to ``KmsAsgiApp`` through
``httpx.ASGITransport`` (three apps kept in NotConfigured, Configured and Running); a share goes
over a real loopback socket to an ``EmbeddedServer``. Everything lives in a throw-away directory;
configure bodies are pinned to it. The run prints requests sent, routes reached, the status
histogram, 5xx seen, 5xx the reference does not document, crashes (the catch-all 500, an
exception out of the app, a traceback or Python exception name in a body, an exception logged by
the server or a traceback in its log file), answers off the route table, and the time taken.
Exit status 1 on any undocumented 5xx, crash, refused signature, malformed or off-table answer.

What counts as documented is ``fuzz_oracle.py``: the only list, used by the suite's fuzz tests
too.

    .venv/bin/python scripts/fuzz_server.py --requests 10000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kms_tui.embedded.admin_routes import handle_admin
from kms_tui.embedded.asgi import KmsAsgiApp
from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.http import HttpRequest
from kms_tui.embedded.s3_routes import handle_s3
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.embedded.service import KmsService

if not __package__:  # run as a file: make ``scripts.*`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import fuzz_oracle  # noqa: E402
from scripts.fuzz_requests import (  # noqa: E402
    BACKUP,
    BLOB,
    DOOMED_BUCKET,
    KEY_DIR,
    MASTER_KEY,
    OBJECT_KEY,
    PENDING_KEY,
    POOL_BUCKETS,
    POOL_KEYS,
    SSE_S3_KEY,
    STATES,
    Case,
    Schedule,
)

ACCESS_KEY = "fuzz-access-key"
SECRET_KEY = "fuzz-secret-key-0123456789abcdef"

# ------------------------------------------------------------------------------- the targets


def _local_config_body(key_dir: Path) -> bytes:
    return json.dumps(
        {
            "backend_type": "Local",
            "key_dir": str(key_dir),
            "master_key": MASTER_KEY,
            "allow_insecure_dev_defaults": True,
        }
    ).encode()


def _seed(service: Any, buckets: BucketStore | None, key_dir: Path) -> None:
    """Configure and start Local over ``key_dir``, create the pool keys (and buckets)."""
    if service.config is None:
        assert service.configure(parse_configure_body(_local_config_body(key_dir))).success
    if not service.is_running:
        assert service.start().success, service.status_json()
    for key_id in (*POOL_KEYS, SSE_S3_KEY):
        if not service.key_exists(key_id):
            service.keys.create_key(f"pool key {key_id}", {"name": key_id})
    for bucket in POOL_BUCKETS if buckets is not None else ():
        if buckets.get(bucket) is None:
            buckets.create(bucket)
            buckets.set_encryption(bucket, "AES256", None)


def _prepare_clean(service: Any, buckets: BucketStore | None, key_dir: Path) -> None:
    """Put back what clean requests rely on: pool keys Active, one key PendingDeletion, buckets."""
    _seed(service, buckets, key_dir)
    keys = service.keys
    for key_id in (*POOL_KEYS, SSE_S3_KEY):
        status = keys.describe_key(key_id).status
        if status == "PendingDeletion":
            keys.cancel_deletion(key_id)
        elif status == "Disabled":
            keys.set_enabled(key_id, True)
    if not service.key_exists(PENDING_KEY):
        keys.create_key("kept pending deletion", {"name": PENDING_KEY})
    if keys.describe_key(PENDING_KEY).status != "PendingDeletion":
        keys.schedule_deletion(PENDING_KEY, 30)
    if buckets is None:
        return
    for bucket in (*POOL_BUCKETS, DOOMED_BUCKET):
        record = buckets.get(bucket) or buckets.create(bucket)
        if bucket in POOL_BUCKETS and record.sse_algorithm is None:
            buckets.set_encryption(bucket, "AES256", None)


def _seed_object(target: InProcessApp) -> None:
    """Put the object a clean GetObject or HeadObject reads back into every pool bucket."""
    for bucket in POOL_BUCKETS:
        path = f"/{bucket}/{OBJECT_KEY}"
        request = HttpRequest("PUT", path, path, (), "", (), b"fuzz object", "seed")
        answer = handle_s3(target.buckets, target.service, request)
        assert answer.status == 200, answer


@dataclass
class InProcessApp:
    """Bucket store, service and app over one directory, as ``EmbeddedServer`` wires them."""

    key_dir: Path
    service: KmsService
    buckets: BucketStore
    app: KmsAsgiApp


class Targets:
    """Three in-process apps (one per state) and one socket server, rebuilt when they drift."""

    def __init__(self, workdir: Path, with_socket: bool) -> None:
        self._workdir = workdir
        self._generation = 0
        self.apps = {state: self._fresh(state) for state in STATES}
        self.socket: EmbeddedServer | None = None
        self.socket_key_dir = workdir / "socket-keys"
        self.socket_log = workdir / "socket-server.log"
        if with_socket:
            self.socket = EmbeddedServer(
                workdir / "socket-data",
                access_key=ACCESS_KEY,
                secret_key=SECRET_KEY,
                allow_immediate_deletion=True,
                log_file=self.socket_log,
                sweep_interval=3600.0,
            ).start()
            _seed(self.socket.service, None, self.socket_key_dir)

    def _fresh(self, state: str) -> InProcessApp:
        self._generation += 1
        data_dir = self._workdir / f"data-{state}-{self._generation}"
        key_dir = self._workdir / f"keys-{state}-{self._generation}"
        buckets = BucketStore(data_dir)
        buckets.load()
        service = KmsService(data_dir, references=buckets, allow_immediate_deletion=True)
        service.load()
        if state == "Configured":
            assert service.configure(parse_configure_body(_local_config_body(key_dir))).success
        elif state == "Running":
            _seed(service, buckets, key_dir)
        app = KmsAsgiApp(
            service=service,
            buckets=buckets,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            admin_handler=handle_admin,
        )
        return InProcessApp(key_dir, service, buckets, app)

    def ensure(self, state: str) -> InProcessApp:
        """The app for ``state``, put back into it (or rebuilt) if the last request moved it."""
        target = self.apps[state]
        service = target.service
        local = service.config is not None and service.config.backend == "local"
        if service.status_json() == state and (state == "NotConfigured" or local):
            return target
        if state == "Running" and local and service.start(force=True).success:
            return target
        if state == "Configured" and local and service.status_json() == "Running":
            service.stop()
            return target
        service.close()
        self.apps[state] = self._fresh(state)
        return self.apps[state]

    def ensure_socket(self) -> tuple[EmbeddedServer, Path]:
        """The socket server, Running with the Local backend again."""
        assert self.socket is not None
        service = self.socket.service
        config = service.config
        if not service.is_running or config is None or config.backend != "local":
            if service.is_running:
                service.stop()
            if config is None or config.backend != "local" or not service.start().success:
                self._generation += 1
                self.socket_key_dir = self._workdir / f"socket-keys-{self._generation}"
                result = service.reconfigure(
                    parse_configure_body(_local_config_body(self.socket_key_dir))
                )
                assert result.success, result
            _seed(service, None, self.socket_key_dir)
        return self.socket, self.socket_key_dir

    def prepare_clean(self, case: Case) -> None:
        """The fixtures a clean request needs, in the target it goes to."""
        if case.over_socket and self.socket is not None:
            _prepare_clean(self.socket.service, None, self.socket_key_dir)
        elif case.state == "Running":
            target = self.apps["Running"]
            _prepare_clean(target.service, target.buckets, target.key_dir)
            if case.slot in ("GET S3 /{bucket}/{key}", "HEAD S3 /{bucket}/{key}"):
                _seed_object(target)
        elif case.state == "Configured" and any(self.apps["Configured"].key_dir.glob("*.key")):
            self.apps["Configured"].service.close()  # a clean restore needs an empty target
            self.apps["Configured"] = self._fresh("Configured")

    def close(self) -> None:
        """Close every store and stop the socket server (idempotent)."""
        for target in self.apps.values():
            target.service.close()
        if self.socket is not None:
            self.socket.stop()
            self.socket = None


# ------------------------------------------------------------------------------- the run


class _RawPathSigner(BotocoreSigV4Auth):
    """botocore's SigV4 signer without its path normalisation, as S3 signs (``//`` stays)."""

    def _normalize_url_path(self, path: str) -> str:
        return path or "/"


class FuzzAuth(httpx.Auth):
    """SigV4 (service s3) over the payload hash, or over ``UNSIGNED-PAYLOAD`` as RustFS allows."""

    requires_request_body = True
    _SIGNED = ("host", "content-type", "content-length", "content-md5")

    def __init__(self, *, unsigned_payload: bool) -> None:
        self._unsigned_payload = unsigned_payload
        self._signer = _RawPathSigner(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1")

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        """Sign in place; unsigned headers (``x-fuzz``, ``accept``...) are left out."""
        body = request.content
        payload = "UNSIGNED-PAYLOAD" if self._unsigned_payload else sha256(body).hexdigest()
        request.headers["x-amz-content-sha256"] = payload
        signed = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in self._SIGNED or name.lower().startswith("x-amz-")
        }
        aws_request = AWSRequest(method=request.method, url=str(request.url), headers=signed)
        self._signer.add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date"):
            request.headers[name] = aws_request.headers[name]
        yield request


class _CrashLog(logging.Handler):
    """Collects every error the server logs with an exception attached."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record.getMessage())


@dataclass
class FuzzReport:
    """What one run saw."""

    requested: int
    routes: tuple[str, ...] = ()  # every route the server has (labels), when the run began
    sent: int = 0
    over_socket: int = 0
    unsigned_payload: int = 0
    not_sendable: int = 0
    clean_sent: int = 0
    clean_2xx: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    slots_sent: Counter[str] = field(default_factory=Counter)
    documented_5xx: Counter[str] = field(default_factory=Counter)
    undocumented_5xx: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    signature_refused: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    off_table: list[str] = field(default_factory=list)
    succeeded_routes: Counter[str] = field(default_factory=Counter)
    log_tracebacks: int = 0
    seconds: float = 0.0

    @property
    def five_xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def failed(self) -> bool:
        """Whether anything the run checks went wrong."""
        return bool(
            self.undocumented_5xx
            or self.crashes
            or self.signature_refused
            or self.malformed
            or self.off_table
        )

    def unreached(self) -> list[str]:
        """Routes never sent a request."""
        return [route for route in self.routes if not self.slots_sent[route]]

    def never_2xx(self) -> list[str]:
        """Routes that can answer 2xx and never did."""
        return [route for route in fuzz_oracle.catalogue() if not self.succeeded_routes[route]]

    def render(self, show: int = 10) -> str:
        catalogue = fuzz_oracle.catalogue()
        unreached, never = self.unreached(), self.never_2xx()
        lines = [
            f"requests sent:          {self.sent} (asked {self.requested}; {self.over_socket} "
            f"over the socket, {self.sent - self.over_socket} in-process; "
            f"{self.unsigned_payload} with UNSIGNED-PAYLOAD; {self.not_sendable} unsendable "
            "drawings skipped)",
            f"routes reached:         {len(self.routes) - len(unreached)} of {len(self.routes)}"
            f" (fewest requests to one route: "
            f"{min((self.slots_sent[r] for r in self.routes), default=0)})"
            + (f" (never: {', '.join(unreached)})" if unreached else ""),
            f"status histogram:       {dict(sorted(self.statuses.items()))}",
            f"5xx seen:               {self.five_xx}",
            f"documented 5xx:         {dict(self.documented_5xx.most_common())}",
            f"undocumented 5xx:       {len(self.undocumented_5xx)}",
            f"crashes:                {len(self.crashes)} (tracebacks in the socket server "
            f"log: {self.log_tracebacks})",
            f"signatures refused:     {len(self.signature_refused)} (correctly signed requests)",
            f"malformed answers:      {len(self.malformed)} (XML or JSON that does not parse)",
            f"off the route table:    {len(self.off_table)} (2xx on a request no table routes)",
            f"clean requests 2xx:     {self.clean_2xx} of {self.clean_sent}",
            f"catalogue routes with a 2xx: {len(catalogue) - len(never)} of {len(catalogue)}"
            + (f" (never: {', '.join(never)})" if never else ""),
            f"time taken:             {self.seconds:.1f} s "
            f"({self.sent / max(self.seconds, 1e-9):.0f} requests/s)",
        ]
        for title, items in (
            ("undocumented 5xx", self.undocumented_5xx),
            ("crash", self.crashes),
            ("refused", self.signature_refused),
            ("malformed", self.malformed),
            ("off the route table", self.off_table),
        ):
            lines += [f"  {title}: {item}" for item in items[:show]]
        return "\n".join(lines)


@contextlib.contextmanager
def _backup_environment(workdir: Path) -> Iterator[None]:
    values = {
        "RUSTFS_KMS_BACKUP_DIR": str(workdir / "backups"),
        "RUSTFS_KMS_BACKUP_KEK": base64.b64encode(os.urandom(32)).decode(),
        "RUSTFS_KMS_BACKUP_KEK_ID": "fuzz-kek",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _materialize(value: Any, key_dir: Path, blob: Callable[[], str], backup: str) -> Any:
    """Fill placeholders: a blob or backup id the server made, the sandbox key directory."""
    if isinstance(value, dict):
        filled = {k: _materialize(v, key_dir, blob, backup) for k, v in value.items()}
        if isinstance(filled.get("key_dir"), str):
            filled["key_dir"] = str(key_dir)  # a fuzzed configure never leaves the sandbox
        return filled
    if isinstance(value, list):
        return [_materialize(item, key_dir, blob, backup) for item in value]
    if value == BLOB:
        return blob()
    if value == BACKUP:
        return backup
    if value == KEY_DIR:
        return str(key_dir)
    return value


def _body_bytes(case: Case, key_dir: Path, blob: Callable[[], str], backup: str) -> bytes:
    if isinstance(case.body, bytes):
        body = case.body
        if fuzz_oracle.target("POST", case.path).path in ("/kms/configure", "/kms/reconfigure"):
            with contextlib.suppress(ValueError, RecursionError):
                document = json.loads(body)
                if isinstance(document, dict) and "key_dir" in document:
                    return json.dumps(_materialize(document, key_dir, blob, backup)).encode()
        return body
    value = _materialize(case.body, key_dir, blob, backup)
    text = json.dumps(value, ensure_ascii=case.json_ascii)
    return text.encode("utf-8", "surrogatepass")


def _holds(value: Any, placeholder: str) -> bool:
    if isinstance(value, dict):
        return any(_holds(item, placeholder) for item in value.values())
    if isinstance(value, list):
        return any(_holds(item, placeholder) for item in value)
    return bool(value == placeholder)


class Fuzzer:
    """Drives cases through the targets and judges every answer."""

    def __init__(self, targets: Targets, runner: asyncio.Runner, report: FuzzReport) -> None:
        self.targets = targets
        self.runner = runner
        self.report = report
        self.blobs: list[str] = []
        self.backups: list[str] = []
        self._auths: dict[str, httpx.Auth | None] = {
            "hashed": FuzzAuth(unsigned_payload=False),
            "unsigned": FuzzAuth(unsigned_payload=True),
            "none": None,
        }
        self._in_process = httpx.AsyncClient(base_url="http://127.0.0.1", timeout=60.0)
        self._socket: httpx.AsyncClient | None = None
        if targets.socket is not None:
            self._socket = httpx.AsyncClient(base_url=targets.socket.endpoint, timeout=60.0)

    async def aclose(self) -> None:
        await self._in_process.aclose()
        if self._socket is not None:
            await self._socket.aclose()

    def _learned_blob(self) -> str:
        return self.blobs[len(self.blobs) // 2] if self.blobs else "bm90IGEgYmxvYg=="

    def _backup_id(self, case: Case) -> str:
        """The newest backup the server made; for a clean request, one is made if none was."""
        if not self.backups and case.clean and _holds(case.body, BACKUP):
            target = self.targets.ensure("Running")
            request = self._in_process.build_request(
                "POST", "/rustfs/admin/v3/kms/backup", content=b"{}"
            )
            transport = httpx.ASGITransport(app=target.app)
            response = self.runner.run(self._send(transport, request, self._auths["hashed"]))
            assert response.status_code == 200, response.text
            self.backups.append(response.json()["backup_id"])
        return self.backups[-1] if self.backups else "fz-backup"

    def run_case(self, case: Case) -> None:
        over_socket = case.over_socket and self._socket is not None
        if over_socket:
            server, key_dir = self.targets.ensure_socket()
            service: Any = server.service
            client, transport = self._socket, None
        else:
            target = self.targets.ensure(case.state)
            key_dir, client = target.key_dir, self._in_process
        if case.clean:
            self.targets.prepare_clean(case)
        if not over_socket:
            target = self.targets.apps[case.state]
            service, key_dir = target.service, target.key_dir
            transport = httpx.ASGITransport(app=target.app)

        def blob() -> str:
            if not case.clean:
                return self._learned_blob()
            _plain, fresh = service.keys.generate_data_key(POOL_KEYS[0], "Aes256", {})
            return base64.b64encode(fresh).decode()

        body = _body_bytes(case, key_dir, blob, self._backup_id(case))
        auth = self._auths[case.auth]
        url = case.path + ("?" + case.query if case.query else "")
        assert client is not None
        try:
            request = client.build_request(
                case.method, url, content=body, headers=list(case.headers)
            )
        except (httpx.InvalidURL, UnicodeError, ValueError):
            self.report.not_sendable += 1
            return
        self.report.sent += 1
        self.report.slots_sent[case.slot] += 1
        self.report.clean_sent += int(case.clean)
        try:
            response = self.runner.run(self._send(transport, request, auth, client))
        except Exception as err:  # the app raised, or the socket server dropped us
            self.report.crashes.append(f"{type(err).__name__}: {err} <- {case.method} {url}")
            return
        self.report.over_socket += int(over_socket)
        self.report.unsigned_payload += int(case.auth == "unsigned")
        self._judge(case, request, body, response)
        self._learn(case, response)

    async def _send(
        self,
        transport: httpx.ASGITransport | None,
        request: httpx.Request,
        auth: httpx.Auth | None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        if auth is not None:
            flow = auth.sync_auth_flow(request)
            request = next(flow)
        if transport is not None:
            response = await transport.handle_async_request(request)
            await response.aread()
            return response
        assert client is not None
        return await client.send(request)

    def _judge(
        self, case: Case, request: httpx.Request, body: bytes, response: httpx.Response
    ) -> None:
        status = response.status_code
        self.report.statuses[status] += 1
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        raw_query = request.url.query.decode("ascii", errors="replace")
        text = response.content.decode("utf-8", errors="replace")
        url = raw_path + ("?" + raw_query if raw_query else "")
        where = f"{case.method} {url[:120]} [{case.state}{', socket' if case.over_socket else ''}]"
        shown = f"{where} body={body[:100]!r} -> {status} {text[:200]!r}"
        broken = fuzz_oracle.malformed(response.headers.get("content-type"), response.content)
        if broken is not None and case.method != "HEAD":
            self.report.malformed.append(f"{broken}: {shown}")
        crashed = fuzz_oracle.crash(text, url + body.decode("utf-8", errors="replace"))
        if crashed is not None:
            self.report.crashes.append(f"{crashed}: {shown}")
        if status >= 500:
            why = fuzz_oracle.documented_5xx(case.method, raw_path, raw_query, status, text)
            if why is None:
                self.report.undocumented_5xx.append(shown)
            else:
                self.report.documented_5xx[why] += 1
        if 200 <= status < 300:
            self.report.clean_2xx += int(case.clean)
            route = fuzz_oracle.target(case.method, raw_path, raw_query).route
            if route is None:
                self.report.off_table.append(shown)
            else:
                self.report.succeeded_routes[route.label] += 1
        refused = status == 403 and "SignatureDoesNotMatch" in text
        if refused and case.auth != "none" and case.canonical_query:
            self.report.signature_refused.append(shown)

    def _learn(self, case: Case, response: httpx.Response) -> None:
        if response.status_code != 200 or not response.content.startswith(b"{"):
            return
        with contextlib.suppress(ValueError):
            answer = response.json()
            route = fuzz_oracle.target(case.method, case.path).path
            if route == "/kms/generate-data-key" and isinstance(answer, dict):
                self.blobs = [*self.blobs[-40:], str(answer.get("ciphertext_blob"))]
            if route == "/kms/backup" and case.method == "POST" and isinstance(answer, dict):
                self.backups = [*self.backups[-10:], str(answer.get("backup_id"))]


def run_fuzz(
    requests: int, *, seed_value: int = 0, socket_share: float = 0.1, workdir: Path | None = None
) -> FuzzReport:
    """Send ``requests`` fuzzed requests and report what came back."""
    schedule = Schedule(seed_value, socket_share)
    report = FuzzReport(requested=requests, routes=tuple(r.label for r in schedule.routes))
    crash_log = _CrashLog()
    watched = [
        logging.getLogger(name) for name in ("kms_tui", "kms_tui.embedded", "uvicorn", "asyncio")
    ]
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        for logger in watched:
            logger.addHandler(crash_log)
            stack.callback(logger.removeHandler, crash_log)
        original_handle_error = logging.Handler.handleError

        def log_write_failed(handler: logging.Handler, record: logging.LogRecord) -> None:
            report.crashes.append(f"the server could not write a log line: {record.msg!r}")

        logging.Handler.handleError = log_write_failed  # type: ignore[method-assign]
        stack.callback(setattr, logging.Handler, "handleError", original_handle_error)
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kms-fuzz-")))
        stack.enter_context(_backup_environment(base))
        targets = Targets(base, with_socket=socket_share > 0)
        stack.callback(targets.close)
        runner = stack.enter_context(asyncio.Runner())
        fuzzer = Fuzzer(targets, runner, report)
        index = 0
        while report.sent < requests:
            fuzzer.run_case(schedule.case(index))
            index += 1
            if index > 2 * requests + 100:
                raise RuntimeError("too many drawings could not be sent")
        if targets.socket is not None and not targets.socket.running:
            report.crashes.append("the socket server stopped running")
        runner.run(fuzzer.aclose())
        targets.close()
        if targets.socket_log.exists():
            log_text = targets.socket_log.read_text("utf-8", errors="replace")
            report.log_tracebacks = log_text.count("Traceback (most recent call last)")
    report.crashes += [f"logged with a traceback: {message}" for message in crash_log.records]
    if report.log_tracebacks:
        report.crashes.append(f"{report.log_tracebacks} traceback(s) in the socket server log")
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run, print the report, exit 1 when any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send")
    parser.add_argument("--seed", type=int, default=0, help="seed (the same run on any install)")
    parser.add_argument(
        "--socket-share",
        type=float,
        default=0.1,
        help="share of requests sent over a loopback socket (default 0.1)",
    )
    parser.add_argument("--show", type=int, default=10, help="examples shown per problem kind")
    args = parser.parse_args(argv)
    report = run_fuzz(args.requests, seed_value=args.seed, socket_share=args.socket_share)
    print(report.render(args.show))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
