"""A misbehaving HTTP server on 127.0.0.1 whose answer per route is switchable at run time.

It sits in front of a real server (normally an :class:`~kms_tui.embedded.server.EmbeddedServer`)
and passes every request through unchanged, except on the routes a test has told it to break:

* :func:`hang` accepts the request and never answers (until the server stops);
* :func:`status` answers a fixed status, body and Content-Type;
* :func:`truncated` declares a Content-Length larger than the body it sends, then closes;
* :func:`html` answers an HTML page (a proxy's error page, or a login portal on a 200);
* :func:`wrong_shape_json` answers valid JSON that is not what the route returns;
* :func:`xml_error` answers an S3 XML ``<Error>`` (RustFS family E1);
* :func:`success_false` answers HTTP 200 with ``{"success": false, "message": ...}``;
* :func:`skew` answers RustFS's 403 ``RequestTimeTooSkewed`` (XML, or JSON if asked);
* :func:`drop` closes the connection without answering (a server killed mid-request);
* :func:`passthrough` forwards to the upstream server (the default).

Requests are relayed byte for byte (the ``Host`` header too), so SigV4 signatures made for this
server's address still verify upstream. ``tls=True`` serves HTTPS with a self-signed certificate
made at start-up with ``cryptography``: a client that trusts only the system CAs refuses it.
:meth:`MisbehavingServer.stop` and :meth:`MisbehavingServer.start` close and reopen the same
port, so a test can take "the server" away and bring it back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import socket
import socketserver
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ADMIN_PREFIX",
    "Fault",
    "MisbehavingServer",
    "SeenRequest",
    "drop",
    "hang",
    "html",
    "misbehaving",
    "passthrough",
    "skew",
    "status",
    "success_false",
    "truncated",
    "wrong_shape_json",
    "xml_error",
]

ADMIN_PREFIX = "/rustfs/admin/v3"
SKEW_MESSAGE = "The difference between the request time and the server's time is too large."
_MAX_HEADER_BYTES = 64 * 1024
_HANG_CAP_SECONDS = 120.0


# ---------------------------------------------------------------------------------------------
# Faults: what one route answers


@dataclass(frozen=True, slots=True)
class Fault:
    """One route's behaviour; build it with the functions below, not directly."""

    kind: str  # "passthrough" | "answer" | "truncated" | "hang" | "drop"
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    declared_length: int | None = None  # truncated: the Content-Length sent


def passthrough() -> Fault:
    """Forward to the upstream server."""
    return Fault("passthrough")


def hang() -> Fault:
    """Read the request, then never answer (the connection stays open until stop)."""
    return Fault("hang")


def drop() -> Fault:
    """Read the request, then close the connection without a byte of answer."""
    return Fault("drop")


def status(
    code: int,
    body: bytes | str | dict[str, Any] | list[Any] = b"",
    content_type: str | None = None,
    *,
    headers: tuple[tuple[str, str], ...] = (),
) -> Fault:
    """Answer ``code`` with ``body`` (dict/list become JSON) and ``content_type`` (None: none)."""
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        content_type = content_type or "application/json"
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body
    return Fault("answer", code, payload, content_type, headers)


def truncated(
    body: bytes = b'{"status": "Running", "backend_type": "Local", "healthy": tr',
    *,
    code: int = 200,
    missing: int = 100,
) -> Fault:
    """Declare ``len(body) + missing`` bytes, send ``body``, then close the connection."""
    return Fault("truncated", code, body, "application/json", declared_length=len(body) + missing)


def html(code: int = 200, title: str = "Sign in - Corporate Portal") -> Fault:
    """An HTML page where JSON was expected (a proxy's error page or a captive portal)."""
    page = (
        "<!DOCTYPE html>\n<html>\n<head><title>"
        f"{title}</title></head>\n<body><h1>{title}</h1><p>Please sign in.</p></body>\n</html>\n"
    )
    return status(code, page, "text/html; charset=utf-8")


def wrong_shape_json(body: dict[str, Any] | list[Any] | None = None, *, code: int = 200) -> Fault:
    """Valid JSON that is not what the route answers (default: a list where an object belongs)."""
    return status(code, body if body is not None else [{"unexpected": True}], "application/json")


def xml_error(
    code: int = 500,
    error_code: str = "InternalError",
    message: str = "We encountered an internal error, please try again.",
    *,
    request_id: str | None = "MISBEHAVING-XML-1",
) -> Fault:
    """An S3 XML ``<Error>`` answer, as s3s writes it (family E1)."""
    return status(code, _xml_error_body(error_code, message, request_id), "application/xml")


def success_false(message: str = "the backend refused the operation") -> Fault:
    """HTTP 200 with ``success: false`` (configure/start/stop report failure this way)."""
    return status(200, {"success": False, "message": message}, "application/json")


def skew(*, as_json: bool = False, request_id: str | None = "MISBEHAVING-SKEW-1") -> Fault:
    """RustFS's 403 ``RequestTimeTooSkewed`` (its clock and ours differ by more than 900 s)."""
    if as_json:
        body = {
            "success": False,
            "code": "RequestTimeTooSkewed",
            "message": SKEW_MESSAGE,
            "request_id": request_id,
        }
        return status(403, body, "application/json")
    return xml_error(403, "RequestTimeTooSkewed", SKEW_MESSAGE, request_id=request_id)


def _xml_error_body(code: str, message: str, request_id: str | None) -> bytes:
    rid = f"<RequestId>{request_id}</RequestId>" if request_id else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{rid}</Error>"
    ).encode()


# ---------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the server read it, and which fault answered it."""

    method: str
    path: str  # below the admin prefix for admin routes (``/kms/keys``), else the full path
    query: str
    fault: str


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass
class _Rules:
    routes: dict[tuple[str, str], Fault] = field(default_factory=dict)
    default: Fault = field(default_factory=passthrough)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hang up mid-answer on purpose here; nothing is printed for it."""


class MisbehavingServer:
    """The server; use as a context manager (or start/stop), point a client at :attr:`url`."""

    def __init__(self, upstream: str | None = None, *, tls: bool = False) -> None:
        self.upstream = upstream
        self.tls = tls
        self.port = 0
        self.seen: list[SeenRequest] = []
        self._rules = _Rules()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: _TcpServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._ssl_context: ssl.SSLContext | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.certificate_pem: bytes = b""

    # --- test controls -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT`` once started."""
        if not self.port:
            raise RuntimeError("the misbehaving server has not been started")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def certificate_path(self) -> Path:
        """The self-signed certificate (PEM) of TLS mode: what ``ca_bundle`` would name."""
        if self._tls_dir is None:
            raise RuntimeError("the misbehaving server is not in started TLS mode")
        return Path(self._tls_dir.name) / "cert.pem"

    def set(self, method: str, path: str, fault: Fault) -> None:
        """Make ``method path`` (``*`` for any method) answer with ``fault`` from now on.

        ``path`` is below the admin prefix for admin routes (``/kms/keys``) and the full path
        for S3 routes (``/my-bucket``).
        """
        with self._lock:
            self._rules.routes[(method.upper(), path)] = fault

    def set_default(self, fault: Fault) -> None:
        """What every route without its own rule answers (passthrough at first)."""
        with self._lock:
            self._rules.default = fault

    def heal(self) -> None:
        """Forget every rule: pass everything through again, and free hanging requests."""
        with self._lock:
            self._rules = _Rules()
        self._release.set()
        self._release = threading.Event()

    def requests_to(self, method: str, path: str) -> list[SeenRequest]:
        """The requests seen for one route."""
        with self._lock:
            return [r for r in self.seen if r.method == method.upper() and r.path == path]

    def faults_served(self, kind: str) -> int:
        """How many requests were answered with a fault of ``kind``."""
        with self._lock:
            return sum(1 for r in self.seen if r.fault == kind)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> MisbehavingServer:
        """Listen on 127.0.0.1 (the same port again after a :meth:`stop`)."""
        if self._server is not None:
            return self
        if self.tls and self._ssl_context is None:
            self._ssl_context = self._make_tls_context()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve_connection(self.request)

        server = _TcpServer(("127.0.0.1", self.port), Handler)
        self.port = int(server.server_address[1])
        self._server = server
        self._release = threading.Event()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (hanging requests included)."""
        server, self._server = self._server, None
        self._release.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop for good and remove the TLS files."""
        self.stop()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> MisbehavingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- TLS -----------------------------------------------------------------------------

    def _make_tls_context(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "misbehaving kms-tui test")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        self._tls_dir = tempfile.TemporaryDirectory(prefix="misbehaving-tls-")
        folder = Path(self._tls_dir.name)
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        self.certificate_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(self.certificate_pem)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context

    # --- one connection ------------------------------------------------------------------

    def _serve_connection(self, raw: socket.socket) -> None:
        conn = raw
        with self._lock:
            self._connections.add(raw)
        try:
            if self._ssl_context is not None:
                try:
                    conn = self._ssl_context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate: what the TLS tests expect
            reader = conn.makefile("rb")
            while True:
                request = _read_request(reader, conn)
                if request is None:
                    return
                if not self._answer(conn, request):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(raw)
            with contextlib.suppress(OSError):
                conn.close()

    def _fault_for(self, method: str, path: str) -> Fault:
        with self._lock:
            rules = self._rules
            for key in ((method, path), ("*", path)):
                if key in rules.routes:
                    return rules.routes[key]
            return rules.default

    def _answer(self, conn: socket.socket, request: _Request) -> bool:
        """Answer one request; returns whether the connection may carry another."""
        full_path, _, query = request.target.partition("?")
        path = (
            full_path.removeprefix(ADMIN_PREFIX)
            if full_path.startswith(ADMIN_PREFIX)
            else full_path
        )
        fault = self._fault_for(request.method, path)
        with self._lock:
            self.seen.append(SeenRequest(request.method, path, query, fault.kind))
        if fault.kind == "hang":
            self._release.wait(_HANG_CAP_SECONDS)
            return False
        if fault.kind == "drop":
            return False
        if fault.kind == "passthrough":
            status_code, reason, headers, body = self._forward(request)
            if status_code is None:
                return False  # the upstream is down: answer nothing, like a dead server
            conn.sendall(_response_bytes(status_code, reason, headers, body, request.keep_alive))
            return request.keep_alive
        headers = list(fault.headers)
        if fault.content_type is not None:
            headers.append(("Content-Type", fault.content_type))
        headers.append(("x-amz-request-id", uuid.uuid4().hex[:16].upper()))
        if fault.kind == "truncated":
            declared = fault.declared_length or len(fault.body) + 1
            head = _head_bytes(fault.status, "OK", [*headers, ("Content-Length", str(declared))])
            conn.sendall(head + fault.body)
            return False
        reason = http.client.responses.get(fault.status, "Unknown")
        conn.sendall(_response_bytes(fault.status, reason, headers, fault.body, request.keep_alive))
        return request.keep_alive

    def _forward(self, request: _Request) -> tuple[int | None, str, list[tuple[str, str]], bytes]:
        if self.upstream is None:
            return None, "", [], b""
        host_port = self.upstream.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.partition(":")
        upstream = http.client.HTTPConnection(host, int(port or 80), timeout=60)
        try:
            upstream.putrequest(
                request.method, request.target, skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers:
                if name.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                    upstream.putheader(name, value)
            upstream.putheader("Connection", "close")
            upstream.endheaders(request.body or None)
            response = upstream.getresponse()
            body = response.read()
            headers = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower()
                not in ("connection", "keep-alive", "transfer-encoding", "content-length")
            ]
            return response.status, response.reason, headers, body
        except (OSError, http.client.HTTPException):
            return None, "", [], b""
        finally:
            upstream.close()


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 by hand (a library would not let us send a short body on purpose)


def _read_request(reader: Any, conn: socket.socket) -> _Request | None:
    line = reader.readline(_MAX_HEADER_BYTES)
    while line in (b"\r\n", b"\n"):
        line = reader.readline(_MAX_HEADER_BYTES)
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError:
        return None
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline(_MAX_HEADER_BYTES)
        if not raw:
            return None
        if raw in (b"\r\n", b"\n"):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    request = _Request(method.upper(), target, version, headers, b"")
    if (request.header("expect") or "").lower() == "100-continue":
        # botocore waits for this before sending a body; the answer goes on the same socket.
        request.headers = [(k, v) for k, v in headers if k.lower() != "expect"]
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if (request.header("transfer-encoding") or "").lower() == "chunked":
        request.body = _read_chunked(reader)
        request.headers = [(k, v) for k, v in request.headers if k.lower() != "transfer-encoding"]
        request.headers.append(("Content-Length", str(len(request.body))))
    else:
        length = int(request.header("content-length") or 0)
        request.body = reader.read(length) if length else b""
    connection = (request.header("connection") or "").lower()
    request.keep_alive = connection != "close" and version.upper() == "HTTP/1.1"
    return request


def _read_chunked(reader: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int(reader.readline(_MAX_HEADER_BYTES).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(_MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(reader.read(size))
        reader.readline(_MAX_HEADER_BYTES)


def _head_bytes(code: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {code} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response_bytes(
    code: int, reason: str, headers: list[tuple[str, str]], body: bytes, keep_alive: bool
) -> bytes:
    all_headers = [
        *headers,
        ("Content-Length", str(len(body))),
        ("Connection", "keep-alive" if keep_alive else "close"),
    ]
    return _head_bytes(code, reason, all_headers) + body


@contextlib.contextmanager
def misbehaving(upstream: str | None = None, *, tls: bool = False) -> Iterator[MisbehavingServer]:
    """A started :class:`MisbehavingServer`, closed afterwards."""
    server = MisbehavingServer(upstream, tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.close()
