"""What every screen reaches the server through: the connection, its clients, log and clock.

The clients may not exist yet when the first frame is drawn (the embedded server starts in a
worker after it), so :meth:`AppContext.admin` and :meth:`AppContext.buckets` wait until the
factory attaches them, and raise a :class:`KmsError` if connecting failed or takes too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from kms_tui.api.errors import KmsConnectionError, KmsError
from kms_tui.settings import Connection, Settings
from kms_tui.tui.activity import ActivityLog
from kms_tui.tui.permissions import Permissions

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryptionClient

__all__ = ["AppContext", "ServerHandle", "endpoint_label_for"]

logger = logging.getLogger("kms_tui.tui.context")

_CONNECT_WAIT_SECONDS = 30.0


class ServerHandle(Protocol):
    """A server this session started (the embedded one); the console only asks if it runs."""

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        ...


def utc_now() -> datetime:
    """The real clock: aware UTC now."""
    return datetime.now(UTC)


def endpoint_label_for(connection: Connection) -> str:
    """The header's endpoint text: the URL without credentials or a trailing slash."""
    if connection.endpoint is None:
        return "embedded (starting)"
    return connection.endpoint.rstrip("/")


class AppContext:
    """One session's connection, clients, activity log and clock; rebuilt on profile switch."""

    def __init__(
        self,
        connection: Connection,
        settings: Settings,
        activity: ActivityLog,
        *,
        clock: Callable[[], datetime] | None = None,
        endpoint_label: str | None = None,
        connect_wait_seconds: float = _CONNECT_WAIT_SECONDS,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.activity = activity
        self.clock: Callable[[], datetime] = clock or utc_now
        # Seconds for durations (poll latency); screenshots fix it so frames are reproducible.
        self.timer: Callable[[], float] = timer or time.perf_counter
        self.endpoint_label = endpoint_label or endpoint_label_for(connection)
        self.endpoint_label_fixed = endpoint_label is not None
        self.connect_wait_seconds = connect_wait_seconds
        self._admin: KmsAdminClient | None = None
        self._buckets: BucketEncryptionClient | None = None
        self._failure: KmsError | None = None
        self._ready = asyncio.Event()
        self._cleanups: list[Callable[[], None]] = []
        self._closed = False
        self.embedded_server: ServerHandle | None = None  # when this session started one
        self.permissions = Permissions()  # what this session's account may do
        activity.redact(connection.secret_key, connection.session_token)

    def __repr__(self) -> str:
        return (
            f"AppContext(profile={self.connection.name!r}, endpoint={self.endpoint_label!r}, "
            f"read_only={self.read_only!r})"
        )

    @property
    def read_only(self) -> bool:
        """Whether every action that changes anything is disabled for this session."""
        return self.connection.read_only

    @property
    def profile_name(self) -> str:
        """The profile the header shows (``embedded``, ``endpoint`` or a config profile)."""
        return self.connection.name

    @property
    def is_ready(self) -> bool:
        """Whether the clients are attached (the server may still be unreachable)."""
        return self._admin is not None

    @property
    def failure(self) -> KmsError | None:
        """Why the clients could not be built (embedded start-up failed), if they could not."""
        return self._failure

    def attach_clients(
        self,
        admin: KmsAdminClient,
        buckets: BucketEncryptionClient,
        *,
        endpoint_label: str | None = None,
    ) -> None:
        """Hand over the clients; wakes every caller waiting in :meth:`admin`."""
        self._admin = admin
        self._buckets = buckets
        self._failure = None
        if endpoint_label is not None and not self.endpoint_label_fixed:
            self.endpoint_label = endpoint_label
        self._ready.set()

    def fail(self, error: KmsError) -> None:
        """Connecting failed for good (e.g. the embedded server could not start)."""
        self._failure = error
        self._ready.set()

    def reset_failure(self) -> bool:
        """Forget a failed start-up so connecting can be tried again; False if none to forget."""
        if self._failure is None or self._admin is not None or self._closed:
            return False
        self._failure = None
        self._ready = asyncio.Event()
        return True

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` (blocking, in a thread) when the context closes, newest first."""
        self._cleanups.append(cleanup)

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_wait_seconds
        while True:
            if self._closed:
                raise KmsConnectionError("this session has been closed")
            ready = self._ready
            if not ready.is_set():
                try:
                    await asyncio.wait_for(ready.wait(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise KmsConnectionError(
                        f"still connecting to {self.endpoint_label} after "
                        f"{self.connect_wait_seconds:.0f} s"
                    ) from None
            if self._failure is not None:
                raise self._failure
            if self._admin is not None:
                return
            # A retry forgot the failure while this call waited: wait for the new attempt.

    async def admin(self) -> KmsAdminClient:
        """The admin client, once connected; raises :class:`KmsError` if it cannot be had."""
        await self._wait()
        assert self._admin is not None
        return self._admin

    async def buckets(self) -> BucketEncryptionClient:
        """The S3 bucket-encryption client, once connected; raises :class:`KmsError` otherwise."""
        await self._wait()
        assert self._buckets is not None
        return self._buckets

    async def aclose(self) -> None:
        """Close the clients, then run the cleanups (stop the embedded server); idempotent."""
        if self._closed:
            return
        self._closed = True
        for client in (self._admin, self._buckets):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                await asyncio.to_thread(cleanup)
            except Exception:
                logger.exception("closing the session failed")

    def run_cleanups_now(self) -> None:
        """Run what :meth:`aclose` did not (after the event loop is gone); idempotent."""
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception:
                logger.exception("closing the session failed")
