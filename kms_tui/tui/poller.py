"""The app's live link to the server: connect once, then poll status forever with backoff.

The app owns the reactives the screens watch (``connection_state``, ``service_status``,
``kms_status``); this module owns the loop that keeps them current and the rules for a lost
connection: one notification per distinct failure, a backoff that doubles up to 30 s, `r` to
try again at once (which also restarts an embedded server that failed to start).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from kms_tui.api.errors import KmsError, KmsTransportError
from kms_tui.api.models import ServiceState
from kms_tui.tui.screens.base import error_text, explain

if TYPE_CHECKING:
    from kms_tui.tui.app import KmsTuiApp
    from kms_tui.tui.context import AppContext

__all__ = ["FIRST_BACKOFF_SECONDS", "MAX_BACKOFF_SECONDS", "Connector", "StatusPoller"]

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0

Connector = Callable[["AppContext"], Awaitable[None]]


class StatusPoller:
    """Keeps one app's connection state, service status and KMS status current."""

    def __init__(self, app: KmsTuiApp, connector: Connector) -> None:
        self.app = app
        self.connector = connector
        self.last_error: str | None = None
        self.last_refusal: str | None = None  # what the server last refused a poll with
        self._retry_now = asyncio.Event()
        self._connecting = False

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
        self._retry_now.set()

    def retry_now(self) -> bool:
        """Poll again at once; returns True when a failed start-up must be run again first."""
        self._retry_now.set()
        context = self.app.context
        if self._connecting or context.failure is None or not context.connection.is_embedded:
            return False
        return context.reset_failure()

    # --- polling ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled: every ``poll_interval_seconds`` while up, backing off while not."""
        delay = FIRST_BACKOFF_SECONDS
        while True:
            context = self.app.context
            ok = await self.poll_once(context)
            if context is not self.app.context:
                continue
            interval = context.settings.poll_interval_seconds
            delay = (
                interval if ok else min(max(delay * 2, FIRST_BACKOFF_SECONDS), MAX_BACKOFF_SECONDS)
            )
            self._retry_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), delay)
            if not ok and self._retry_now.is_set():
                delay = FIRST_BACKOFF_SECONDS

    async def poll_once(self, context: AppContext) -> bool:
        """One service-status (and status) round; returns whether the server answered."""
        app = self.app
        try:
            admin = await context.admin()
            status = await admin.service_status()
        except KmsTransportError as err:
            self._lost(context, err)
            return False
        except KmsError as err:
            if context.failure is err:
                self._lost(context, err)
                return False
            self._refused(context, err)
            return True
        refusal: KmsError | None = None
        kms_status = None
        if status.state is ServiceState.RUNNING:
            try:
                kms_status = await admin.status()
            except KmsTransportError as err:
                self._lost(context, err)
                return False
            except KmsError as err:
                refusal = err
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
        return True

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
            self.note_error("poll", err)
        self.last_refusal = err.message
        app.poll_refused = True

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

    def note_error(self, action: str, err: KmsError) -> None:
        """Record a failure of the app's own calls and notify it with the request id."""
        context = self.app.context
        context.activity.record(
            action, context.endpoint_label, False, message=explain(err), request_id=err.request_id
        )
        self.app.notify(error_text(err), title=f"{action} failed", severity="error")
