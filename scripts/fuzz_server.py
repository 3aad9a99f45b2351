"""Bounded fuzz of the embedded server's admin and S3 routes, reported as numbers.

Hypothesis generates requests (methods, paths under both admin prefixes and the S3 namespace,
queries, headers, bodies: JSON of the right and of the wrong shape, random bytes, huge and deeply
nested documents, unicode including lone surrogates, XML), every one correctly SigV4-signed so it
reaches the handlers. Most go in-process to ``KmsAsgiApp`` through ``httpx.ASGITransport`` (three
apps kept in NotConfigured, Configured and Running); a share goes over a real loopback socket to
an ``EmbeddedServer``. Everything lives in a throw-away directory; configure bodies are pinned to
it. The run prints requests sent, the status histogram, 5xx seen, 5xx the reference does not
document, crashes (the catch-all 500, an exception out of the app, a traceback or Python
exception name in a body, an exception logged by the server or a traceback in its log file) and
the time taken. Exit status 1 when there is any undocumented 5xx or crash.

The requests are drawn in ``fuzz_requests.py``; what counts as documented is ``fuzz_oracle.py``.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, given, seed, settings

from kms_tui.embedded.admin_routes import handle_admin
from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.server import EmbeddedServer, KmsAsgiApp
from kms_tui.embedded.service import KmsService

if not __package__:  # run as a file: make ``scripts.*`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.fuzz_oracle import (  # noqa: E402
    CATALOGUE,
    INTERNAL_ERROR,
    LEAK,
    admin_route,
    documented_5xx,
    malformed,
    route_label,
)
from scripts.fuzz_requests import (  # noqa: E402
    BACKUP,
    BLOB,
    KEY_DIR,
    MASTER_KEY,
    POOL_BUCKETS,
    POOL_KEYS,
    STATES,
    Case,
    cases,
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
    for key_id in POOL_KEYS:
        if not service.key_exists(key_id):
            service.create_key(f"pool key {key_id}", {"name": key_id})
    for bucket in POOL_BUCKETS if buckets is not None else ():
        if buckets.get(bucket) is None:
            buckets.create(bucket)
            buckets.set_encryption(bucket, "AES256", None)


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
    sent: int = 0
    over_socket: int = 0
    unsigned_payload: int = 0
    not_sendable: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    documented_5xx: Counter[str] = field(default_factory=Counter)
    undocumented_5xx: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    signature_refused: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    succeeded_routes: Counter[str] = field(default_factory=Counter)
    log_tracebacks: int = 0
    seconds: float = 0.0

    @property
    def five_xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def render(self, show: int = 10) -> str:
        reached = [route for route in CATALOGUE if self.succeeded_routes[route]]
        missing = [route for route in CATALOGUE if not self.succeeded_routes[route]]
        lines = [
            f"requests sent:          {self.sent} (asked {self.requested}; {self.over_socket} "
            f"over the socket, {self.sent - self.over_socket} in-process; "
            f"{self.unsigned_payload} with UNSIGNED-PAYLOAD; {self.not_sendable} unsendable "
            "drawings skipped)",
            f"status histogram:       {dict(sorted(self.statuses.items()))}",
            f"5xx seen:               {self.five_xx}",
            f"documented 5xx:         {dict(self.documented_5xx.most_common())}",
            f"undocumented 5xx:       {len(self.undocumented_5xx)}",
            f"crashes:                {len(self.crashes)} (tracebacks in the socket server "
            f"log: {self.log_tracebacks})",
            f"signatures refused:     {len(self.signature_refused)} (correctly signed requests)",
            f"malformed answers:      {len(self.malformed)} (XML or JSON that does not parse)",
            f"catalogue routes with a 2xx: {len(reached)} of {len(CATALOGUE)}"
            + (f" (never: {', '.join(missing)})" if missing else ""),
            f"time taken:             {self.seconds:.1f} s "
            f"({self.sent / max(self.seconds, 1e-9):.0f} requests/s)",
        ]
        for title, items in (
            ("undocumented 5xx", self.undocumented_5xx),
            ("crash", self.crashes),
            ("refused", self.signature_refused),
            ("malformed", self.malformed),
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


def _materialize(value: Any, key_dir: Path, blobs: list[str], backups: list[str]) -> Any:
    """Fill placeholders: a blob or backup id the server made, the sandbox key directory."""
    if isinstance(value, dict):
        filled = {k: _materialize(v, key_dir, blobs, backups) for k, v in value.items()}
        if isinstance(filled.get("key_dir"), str):
            filled["key_dir"] = str(key_dir)  # a fuzzed configure never leaves the sandbox
        return filled
    if isinstance(value, list):
        return [_materialize(item, key_dir, blobs, backups) for item in value]
    if value == BLOB:
        return blobs[len(blobs) // 2] if blobs else "bm90IGEgYmxvYg=="
    if value == BACKUP:
        return backups[-1] if backups else "fz-backup"
    if value == KEY_DIR:
        return str(key_dir)
    return value


def _body_bytes(case: Case, key_dir: Path, blobs: list[str], backups: list[str]) -> bytes:
    if isinstance(case.body, bytes):
        body = case.body
        if admin_route(case.path) in ("/kms/configure", "/kms/reconfigure"):
            with contextlib.suppress(ValueError, RecursionError):
                document = json.loads(body)
                if isinstance(document, dict) and "key_dir" in document:
                    return json.dumps(_materialize(document, key_dir, blobs, backups)).encode()
        return body
    value = _materialize(case.body, key_dir, blobs, backups)
    text = json.dumps(value, ensure_ascii=case.json_ascii)
    return text.encode("utf-8", "surrogatepass")


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

    def run_case(self, case: Case) -> None:
        if case.over_socket and self._socket is not None:
            _server, key_dir = self.targets.ensure_socket()
            client, transport = self._socket, None
        else:
            target = self.targets.ensure(case.state)
            key_dir, client = target.key_dir, self._in_process
            transport = httpx.ASGITransport(app=target.app)
        body = _body_bytes(case, key_dir, self.blobs, self.backups)
        auth = self._auths[case.auth]
        url = case.path + ("?" + case.query if case.query else "")
        try:
            request = client.build_request(
                case.method, url, content=body, headers=list(case.headers)
            )
        except (httpx.InvalidURL, UnicodeError, ValueError):
            self.report.not_sendable += 1
            return
        try:
            response = self.runner.run(self._send(client, transport, request, auth))
        except Exception as err:  # the app raised, or the socket server dropped us
            self.report.sent += 1
            self.report.crashes.append(f"{type(err).__name__}: {err} <- {case.method} {url}")
            return
        self.report.sent += 1
        self.report.over_socket += int(case.over_socket and self._socket is not None)
        self.report.unsigned_payload += int(case.auth == "unsigned")
        self._judge(case, url, body, response)
        self._learn(case, response)

    async def _send(
        self,
        client: httpx.AsyncClient,
        transport: httpx.ASGITransport | None,
        request: httpx.Request,
        auth: httpx.Auth | None,
    ) -> httpx.Response:
        if auth is not None:
            flow = auth.sync_auth_flow(request)
            request = next(flow)
        if transport is not None:
            response = await transport.handle_async_request(request)
            await response.aread()
            return response
        return await client.send(request)

    def _judge(self, case: Case, url: str, body: bytes, response: httpx.Response) -> None:
        status = response.status_code
        self.report.statuses[status] += 1
        text = response.content.decode("utf-8", errors="replace")
        where = f"{case.method} {url[:120]} [{case.state}{', socket' if case.over_socket else ''}]"
        shown = f"{where} body={body[:100]!r} -> {status} {text[:200]!r}"
        sent = (url + body.decode("utf-8", errors="replace")).lower()
        leak = LEAK.search(text)
        broken = malformed(response.headers.get("content-type"), response.content)
        if broken is not None and case.method != "HEAD":
            self.report.malformed.append(f"{broken}: {shown}")
        if INTERNAL_ERROR in text or "Traceback" in text:
            self.report.crashes.append(f"catch-all or traceback: {shown}")
        elif leak and leak.group(1).lower() not in sent:
            self.report.crashes.append(f"Python exception name {leak.group(1)!r}: {shown}")
        if status >= 500:
            why = documented_5xx(case.method, admin_route(case.path), status, text)
            if why is None:
                self.report.undocumented_5xx.append(shown)
            else:
                self.report.documented_5xx[why] += 1
        if 200 <= status < 300:
            self.report.succeeded_routes[route_label(case.method, case.path, case.query)] += 1
        if status == 403 and case.auth != "none" and "SignatureDoesNotMatch" in text:
            self.report.signature_refused.append(shown)

    def _learn(self, case: Case, response: httpx.Response) -> None:
        if response.status_code != 200 or not response.content.startswith(b"{"):
            return
        with contextlib.suppress(ValueError):
            answer = response.json()
            route = admin_route(case.path)
            if route == "/kms/generate-data-key" and isinstance(answer, dict):
                self.blobs = [*self.blobs[-40:], str(answer.get("ciphertext_blob"))]
            if route == "/kms/backup" and case.method == "POST" and isinstance(answer, dict):
                self.backups = [*self.backups[-10:], str(answer.get("backup_id"))]


def run_fuzz(
    requests: int, *, seed_value: int = 0, socket_share: float = 0.1, workdir: Path | None = None
) -> FuzzReport:
    """Send ``requests`` fuzzed requests and report what came back."""
    report = FuzzReport(requested=requests)
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
        round_number = 0
        while report.sent < requests:
            remaining, sent_before = requests - report.sent, report.sent

            @seed(seed_value * 1000 + round_number)
            @settings(
                max_examples=remaining,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(cases(socket_share))
            def one(case: Case) -> None:
                if report.sent < requests:
                    fuzzer.run_case(case)

            one()
            round_number += 1
            if report.sent == sent_before:
                raise RuntimeError("a whole round of drawings produced no sendable request")
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
    """Command line entry: run, print the report, exit 1 on undocumented 5xx or crashes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (reproducible runs)")
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
    failed = report.undocumented_5xx or report.crashes or report.malformed
    return 1 if failed or report.signature_refused else 0


if __name__ == "__main__":
    sys.exit(main())
