"""What the S3 routes and the object routes share: the S3 error they raise, streamed answers.

A handler raises :class:`S3Failure` anywhere below it; the dispatcher turns it into the XML
error answer (or a bare status for HEAD). A GET of an object answers a :class:`StreamedResponse`,
whose body the ASGI app sends piece by piece, so no object is ever held whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "ClientGone",
    "S3Failure",
    "StreamedResponse",
    "header_value",
]

# RustFS's generic InternalError message (rustfs/src/error.rs); the catch-all of this server's
# ASGI app says it differently on purpose, so a crash is never mistaken for a KMS refusal.
INTERNAL_ERROR_MESSAGE = "We encountered an internal error, please try again."


class S3Failure(Exception):
    """An S3 XML error answer raised from deep inside a handler."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


class ClientGone(Exception):
    """The client disconnected while its request body was being read."""


@dataclass
class StreamedResponse:
    """An answer whose body comes from ``chunks`` (each call to ``close`` after, always)."""

    status: int
    content_length: int
    chunks: Iterator[bytes]
    close: Callable[[], None]
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of a (lower-case) header, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None
