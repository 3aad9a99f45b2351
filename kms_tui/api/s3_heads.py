"""A lean bulk-HEAD path for the impact scan: plain keep-alive HTTP/1.1 on asyncio streams.

The impact scan HEADs every object; through httpx most of each HEAD's client CPU goes to the
HTTP stack, not to signing or parsing. :class:`BulkHeads` keeps a small pool of keep-alive
connections of its own, signs every HEAD exactly as the S3 client does
(:meth:`~kms_tui.api.auth.SigV4Auth.sign_bodiless`, the same path from
:func:`~kms_tui.api.s3_http.object_path`), reads the answer up to its blank line (a HEAD answer
has no body) and parses a 2xx into :class:`~kms_tui.api.s3_models.ObjectHead`.

Anything else goes to the client's own ``head_object`` for that object, so errors and their
messages are exactly the client's: a non-2xx status, a malformed answer, a timeout, a
connection that fails (an idle one the server closed is first retried once on a fresh
connection), an HTTP proxy from the environment, or a client built on a custom transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from kms_tui.api.auth import SigV4Auth
from kms_tui.api.errors import KmsResponseError
from kms_tui.api.s3_http import object_path
from kms_tui.api.s3_models import ObjectHead

__all__ = ["BulkHeads"]

DEFAULT_CONNECTIONS = 32
_HEAD_LIMIT = 64 * 1024  # an answer's status line and headers; longer ones go to the client
_DEFAULT_PORTS = {"http": 80, "https": 443}

_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Malformed(ValueError):
    """An answer this path does not read; the client's own HEAD takes the object."""


def _decode(block: bytes) -> str:
    # As httpx decodes headers: ASCII, else UTF-8, else Latin-1.
    for encoding in ("ascii", "utf-8"):
        with contextlib.suppress(UnicodeDecodeError):
            return block.decode(encoding)
    return block.decode("iso-8859-1")


def parse_head_answer(block: bytes) -> tuple[int, dict[str, str], bool]:
    """(status, headers by lower-case name, keep-alive) of an answer's head up to ``\\r\\n\\r\\n``.

    Repeated headers are joined with ``", "`` as httpx joins them.
    """
    lines = _decode(block).split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if (
        version not in ("HTTP/1.1", "HTTP/1.0")
        or len(code) != 3
        or not code.isdigit()
        or rest[3:4] not in ("", " ")
    ):
        raise _Malformed(f"status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip(" \t"):
            raise _Malformed(f"header line {line[:80]!r}")
        name = name.lower()
        value = value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    return int(code), headers, keep_alive


def _proxied(scheme: str, host: str) -> bool:
    """Whether httpx would send requests for ``host`` through a proxy from the environment."""
    import urllib.request  # noqa: PLC0415 - only when a bulk path is opened

    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


class BulkHeads:
    """Many HEADs to one endpoint over a pool of keep-alive connections; see the module text."""

    def __init__(
        self,
        endpoint: str,
        auth: SigV4Auth,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
        fallback: Callable[[str, str], Awaitable[ObjectHead]],
        accepts: Callable[[str, str], bool],
        direct: bool = True,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        parts = urlsplit(endpoint)
        scheme = parts.scheme.lower()
        self._fallback = fallback
        self._accepts = accepts
        self._auth = auth
        self._timeout = timeout
        self._ssl = ssl_context if scheme == "https" else None
        self._max_idle = max(1, connections)
        self._idle: list[_Streams] = []
        self._open: set[asyncio.StreamWriter] = set()
        self._closed = False
        host = parts.hostname or ""
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            port = 0
        self._host, self._port = host, port
        self.direct = bool(
            direct
            and host
            and port
            and scheme in _DEFAULT_PORTS
            and (scheme == "http" or ssl_context is not None)
            and not parts.query
            and not parts.fragment
            and not parts.username
            and not parts.password
            and not _proxied(scheme, host)
        )
        # The Host header httpx sends: the port only when it is not the scheme's default.
        shown = f"[{host}]" if ":" in host else host
        self._host_header = shown if port == _DEFAULT_PORTS.get(scheme) else f"{shown}:{port}"
        self._prefix = parts.path.rstrip("/")
        self._origin = f"{scheme}://{self._host_header}"

    async def __aenter__(self) -> BulkHeads:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        self._closed = True
        writers = list(self._open)
        self._idle.clear()
        self._open.clear()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def head(self, bucket: str, key: str) -> ObjectHead:
        """What ``BucketEncryptionClient.head_object(bucket, key)`` answers."""
        if self._closed or not self.direct or not self._accepts(bucket, key):
            return await self._fallback(bucket, key)
        path = self._prefix + object_path(bucket, key)
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._exchange(path)
        except (OSError, EOFError, ValueError, asyncio.LimitOverrunError):
            answer = None  # a timeout (TimeoutError is an OSError) or a failing connection
        if answer is None:
            return await self._fallback(bucket, key)
        try:
            return ObjectHead.from_headers(bucket, key, answer)
        except KmsResponseError:
            return await self._fallback(bucket, key)

    async def _exchange(self, path: str) -> dict[str, str] | None:
        """The headers of a 2xx answer, or None for any other status."""
        headers = self._auth.sign_bodiless("HEAD", self._origin + path, self._host_header)
        request = "".join(
            [f"HEAD {path} HTTP/1.1\r\n", *(f"{n}: {v}\r\n" for n, v in headers.items()), "\r\n"]
        ).encode("ascii")
        streams, reused = await self._acquire()
        try:
            status, answer, keep_alive = await self._roundtrip(streams, request)
        except (OSError, EOFError) as err:
            self._discard(streams)
            if not reused or not self._closed_while_idle(err):
                raise
            # The server closed the idle connection: once more on a fresh one.
            streams = await self._connect()
            status, answer, keep_alive = await self._guarded(streams, request)
        except BaseException:
            self._discard(streams)
            raise
        if keep_alive and status >= 200:
            self._release(streams)
        else:
            self._discard(streams)
        return answer if 200 <= status < 300 else None

    @staticmethod
    def _closed_while_idle(err: BaseException) -> bool:
        if isinstance(err, asyncio.IncompleteReadError):
            return not err.partial  # nothing at all came back
        return isinstance(err, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))

    async def _guarded(self, streams: _Streams, request: bytes) -> tuple[int, dict[str, str], bool]:
        try:
            return await self._roundtrip(streams, request)
        except BaseException:
            self._discard(streams)
            raise

    async def _roundtrip(
        self, streams: _Streams, request: bytes
    ) -> tuple[int, dict[str, str], bool]:
        reader, writer = streams
        writer.write(request)
        await writer.drain()
        block = await reader.readuntil(b"\r\n\r\n")
        return parse_head_answer(block[:-4])

    async def _acquire(self) -> tuple[_Streams, bool]:
        while self._idle:
            streams = self._idle.pop()
            if streams[0].at_eof() or streams[1].is_closing():
                self._discard(streams)
                continue
            return streams, True
        return await self._connect(), False

    async def _connect(self) -> _Streams:
        reader, writer = await asyncio.open_connection(
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl is not None else None,
            limit=_HEAD_LIMIT,
        )
        self._open.add(writer)
        if self._ssl is not None:
            ssl_object = writer.get_extra_info("ssl_object")
            protocol = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if protocol not in (None, "http/1.1"):
                self._discard((reader, writer))
                raise _Malformed(f"the server chose {protocol!r}, not HTTP/1.1")
        return reader, writer

    def _release(self, streams: _Streams) -> None:
        if self._closed or len(self._idle) >= self._max_idle:
            self._discard(streams)
        else:
            self._idle.append(streams)

    def _discard(self, streams: _Streams) -> None:
        writer = streams[1]
        self._open.discard(writer)
        writer.close()
