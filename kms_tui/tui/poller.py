"""The one owner of live server state: connect once, then poll forever with backoff.

Only this module fetches the service status and ``/kms/status``; it writes the app's reactives
(``connection_state``, ``service_status``, ``kms_status``, ``poll_refused``, ``last_poll``) and
nothing else does. Screens render them; a screen that needs fresher data awaits
:meth:`StatusPoller.poll_now` instead of fetching around the poller. The rules for a lost
connection live here too: one notification per distinct failure, a backoff that doubles up to
30 s, `r` to try again at once (which also restarts an embedded server that failed to start).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from kms_tui.api.errors import KmsAccessDenied, KmsError, KmsTransportError
from kms_tui.api.service_models import KmsStatus, ServiceStatus
from kms_tui.api.wire import ServiceState
from kms_tui.tui.error_text import error_text, explain

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.tui.app import KmsTuiApp
    from kms_tui.tui.context import AppContext

__all__ = [
    "FIRST_BACKOFF_SECONDS",
    "MAX_BACKOFF_SECONDS",
    "Connector",
    "PollRound",
    "StatusPoller",
]

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0

Connector = Callable[["AppContext"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PollRound:
    """What one completed poll saw; the Live stats screen charts a sequence of these."""

    number: int
    at: datetime
    service_status: ServiceStatus | None
    kms_status: KmsStatus | None
    latency_ms: float | None  # of the ``/kms/status`` call, when it answered
    error: KmsError | None  # why the round had no ``/kms/status`` (lost, refused), if it failed


class StatusPoller:
    """Keeps one app's connection state, service status and KMS status current."""

    def __init__(self, app: KmsTuiApp, connector: Connector) -> None:
        self.app = app
        self.connector = connector
        self.last_error: str | None = None
        self.last_refusal: str | None = None  # what the server last refused a poll with
        self.rounds = 0  # completed poll rounds; tests wait for the next one
        self._wake = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._connecting = False
        self._polling = False  # a round is under way

    # --- connecting ------------------------------------------------------------------------

    async def connect(self, context: AppContext) -> None:
        """Run the connector (start the embedded server); a failure is shown, never raised."""
        self._connecting = True
        try:
            await self.connector(context)
        except KmsError as err:
            context.activity.record("connect", context.endpoint_label, False, message=err.message)
            self.app.notify(err.message, title="Setting up the server failed", severity="error")
        finally:
            self._connecting = False
        # A round under way has been waiting in context.admin() for this very outcome, so it
        # reports it; only an idle poller (waiting out its interval or a backoff) needs waking.
        if not self._polling:
            self._wake.set()

    def retry_now(self) -> bool:
        """Poll again at once; returns True when a failed start-up must be run again first."""
        self._wake.set()
        context = self.app.context
        if self._connecting or context.failure is None or not context.connection.is_embedded:
            return False
        return context.reset_failure()

    async def poll_now(self) -> None:
        """Poll at once and return when that round has completed and its results are app state."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    # --- polling ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled: every ``poll_interval_seconds`` while up, backing off while not."""
        delay = FIRST_BACKOFF_SECONDS
        try:
            while True:
                context = self.app.context
                self._wake.clear()
                waiters, self._waiters = self._waiters, []
                self._polling = True
                try:
                    ok = await self.poll_once(context)
                finally:
                    self._polling = False
                    self.rounds += 1
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                if context is not self.app.context:
                    continue
                interval = context.settings.poll_interval_seconds
                if context.permissions.denied("kms:ServiceControl"):
                    # The account may not read the status: ask now and then, to see a grant.
                    interval = max(interval, MAX_BACKOFF_SECONDS)
                delay = (
                    interval
                    if ok
                    else min(max(delay * 2, FIRST_BACKOFF_SECONDS), MAX_BACKOFF_SECONDS)
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                if not ok and self._wake.is_set():
                    delay = FIRST_BACKOFF_SECONDS
        finally:
            for waiter in self._waiters:
                waiter.cancel()
            self._waiters = []

    async def poll_once(self, context: AppContext) -> bool:
        """One service-status (and status) round; returns whether the server answered."""
        app = self.app
        try:
            admin = await context.admin()
        except KmsError as err:
            self._lost(context, err)
            return False
        try:
            status = await admin.service_status()
        except KmsTransportError as err:
            self._lost(context, err)
            return False
        except KmsError as err:
            await self._check_account(context, admin)
            self._refused(context, err)
            self._record(context, None, None, None, err)
            return True
        await self._check_account(context, admin)
        refusal: KmsError | None = None
        kms_status = None
        latency_ms: float | None = None
        if status.state is ServiceState.RUNNING:
            started = context.timer()
            try:
                kms_status = await admin.status()
            except KmsTransportError as err:
                self._lost(context, err)
                return False
            except KmsError as err:
                refusal = err
            else:
                latency_ms = (context.timer() - started) * 1000.0
        if context is not app.context:
            return True
        if app.connection_state != "connected":
            if self.last_error is not None:
                context.activity.record("reconnect", context.endpoint_label, True)
                app.notify(f"connected to {context.endpoint_label}", title="Reconnected")
            self.last_error = None
        app.service_status = status
        if refusal is None:
            app.kms_status = kms_status
            self.last_refusal = None
            app.poll_refused = False
        app.connection_state = "connected"
        if refusal is not None:
            self._refused(context, refusal)
        self._record(context, status, kms_status, latency_ms, refusal)
        return True

    def _record(
        self,
        context: AppContext,
        status: ServiceStatus | None,
        kms_status: KmsStatus | None,
        latency_ms: float | None,
        error: KmsError | None,
    ) -> None:
        if context is self.app.context:
            self.app.last_poll = PollRound(
                self.rounds + 1, context.clock(), status, kms_status, latency_ms, error
            )

    async def _check_account(self, context: AppContext, admin: KmsAdminClient) -> None:
        """Once per session, ask who these credentials are and what their policy allows."""
        permissions = context.permissions
        if permissions.checked:
            return
        try:
            info = await admin.account_info()
        except KmsTransportError:
            return  # the next round asks again
        except KmsError as err:
            permissions.learn_account(None, f"the server does not say ({err.message})")
        else:
            permissions.learn_account(info)
        if context is self.app.context:
            self.app.permissions_version += 1

    def _refused(self, context: AppContext, err: KmsError) -> None:
        """The server answered but refused or garbled the poll: connected, said once per cause."""
        app = self.app
        if context is not app.context:
            return
        if app.connection_state != "connected" and self.last_error is not None:
            context.activity.record("reconnect", context.endpoint_label, True)
            self.last_error = None
        app.connection_state = "connected"
        if self.last_refusal != err.message:
            if isinstance(err, KmsAccessDenied) and err.is_policy_refusal and err.action:
                self._denied(context, err)
            else:
                self.note_error("poll", err)
        self.last_refusal = err.message
        app.poll_refused = True

    def _denied(self, context: AppContext, err: KmsAccessDenied) -> None:
        """The account may not read the status: said once, not as a failure, and remembered."""
        self.app.learn_refusal(err)
        context.activity.record(
            "poll",
            context.endpoint_label,
            False,
            message=f"denied for this account: {err.action} (the header and Live stats need it)",
            request_id=err.request_id,
        )
        self.app.notify(
            f"this account may not read the KMS status ({err.action}): the header and Live "
            "stats stay empty; the other screens work as its policy allows",
            title="Status denied for this account",
            severity="warning",
        )

    def forget(self) -> None:
        """A new context (profile switch): no error carried over."""
        self.last_error = None
        self.last_refusal = None

    def _lost(self, context: AppContext, err: KmsError) -> None:
        app = self.app
        if context is not app.context:
            return
        first = app.connection_state != "disconnected"
        app.connection_state = "disconnected"
        self.last_refusal = None  # after the outage, a refusal is news again
        app.poll_refused = False
        if first or self.last_error != err.message:
            self.note_error("connect", err)
        self.last_error = err.message
        self._record(context, None, None, None, err)

    def note_error(self, action: str, err: KmsError) -> None:
        """Record a failure of the app's own calls and notify it with the request id."""
        context = self.app.context
        context.activity.record(
            action, context.endpoint_label, False, message=explain(err), request_id=err.request_id
        )
        self.app.notify(error_text(err), title=f"{action} failed", severity="error")
