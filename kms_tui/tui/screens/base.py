"""The base of every top-level screen: its context, and one way to report, refuse and refresh."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.binding import Binding, BindingType
from textual.events import Mount
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kms_tui.api.errors import KmsAccessDenied, KmsError
from kms_tui.tui.context import AppContext
from kms_tui.tui.error_text import error_text, explain
from kms_tui.tui.permissions import DENIED
from kms_tui.tui.widgets.header import KmsHeader

if TYPE_CHECKING:
    from kms_tui.api.service_models import KmsStatus
    from kms_tui.tui.app import KmsTuiApp

__all__ = ["KmsScreen"]


class KmsScreen(Screen[None]):
    """A top-level screen (one per mode) of the console; the header is mounted for it.

    The chrome is the same on every screen: the header says where you are (profile, endpoint,
    service state, and the five screens with their keys), the footer says what you can do here
    (the screen's bindings, after keymap remapping). No action is listed twice.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh", id="screen.refresh"),
    ]

    # Screen action -> the IAM actions it needs; greyed ("denied for this account") when the
    # account may do none of them. Screens fill it in.
    IAM_ACTIONS: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    @on(Mount)
    def _mount_header(self) -> None:
        if not self.query(KmsHeader):
            self.mount(KmsHeader())
        self.watch(self.kms_app, "permissions_version", self._permissions_changed, init=False)

    def _permissions_changed(self, _version: int) -> None:
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _funnel_worker_error(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: hand the unexpected to the app's one funnel.
        if event.state is WorkerState.ERROR:
            self.kms_app.worker_failed(event.worker)

    @property
    def kms_app(self) -> KmsTuiApp:
        """The console app, typed (every KmsScreen runs inside one)."""
        return cast("KmsTuiApp", self.app)

    @property
    def ctx(self) -> AppContext:
        """The app's current context (it changes when the profile is switched)."""
        return self.kms_app.context

    @property
    def kms_status(self) -> KmsStatus | None:
        """The poller's last ``/kms/status`` answer (cache stats, backend), if any."""
        return self.kms_app.kms_status

    @property
    def default_key_id(self) -> str | None:
        """The KMS default key (it wraps SSE-S3 data keys), from the poller's service status."""
        status = self.kms_app.service_status
        summary = status.config_summary if status is not None else None
        return summary.default_key_id if summary is not None else None

    def capability_problem(self, capability: str, action_label: str) -> str | None:
        """Why ``action_label`` is unavailable on this backend, or None when it may be tried.

        ``capability`` is a field of :class:`kms_tui.api.service_models.Capabilities`
        (``"rotate"``, ``"enable_disable"``, ...). Unknown capabilities count as available.
        """
        capabilities = self.kms_app.capabilities
        if capabilities is None or getattr(capabilities, capability, True):
            return None
        status = self.kms_status
        backend = status.backend_type if status is not None else "this backend"
        return f"{action_label} is not supported by the {backend} backend"

    def report_error(self, action: str, target: str | None, err: KmsError) -> None:
        """Tell the user what the server said (with its request id) and keep it in the log.

        A policy refusal is not a failure of the server: it says the account may not, and the
        action is greyed for the rest of the session.
        """
        where = f" {target}" if target else ""
        self.ctx.activity.record(
            action, target, False, message=explain(err), request_id=err.request_id
        )
        if isinstance(err, KmsAccessDenied) and err.is_policy_refusal and err.action:
            self.kms_app.learn_refusal(err)
            request = f" (request id {err.request_id})" if err.request_id else ""
            self.notify(
                f"{DENIED}: the server refused {err.action}{request}",
                title=f"{action}{where} denied",
                severity="warning",
            )
            return
        self.notify(error_text(err), title=f"{action}{where} failed", severity="error")

    def permission_resource(self, iam_action: str) -> str | None:
        """The key id or bucket an IAM action would name now (screens with a cursor say)."""
        return None

    def permission_reason(self, action: str) -> str | None:
        """``denied for this account (...)`` when the account may do none of what ``action``
        needs (see :attr:`IAM_ACTIONS`), else None."""
        needed = self.IAM_ACTIONS.get(action)
        if not needed or not self.is_mounted:
            return None
        permissions = self.ctx.permissions
        if not all(permissions.denied(a, self.permission_resource(a)) for a in needed):
            return None
        return f"{DENIED} ({', '.join(needed)})"

    def report_done(self, action: str, target: str | None, message: str) -> None:
        """Confirm a successful change and keep it in the log."""
        self.notify(message, title=action)
        self.ctx.activity.record(action, target, True, message=message)

    def writable(self, action_label: str) -> bool:
        """False (and say why) when the session is read-only; call before any change."""
        if self.ctx.read_only:
            self.notify(
                f"read-only session: {action_label} is disabled",
                title="Read-only",
                severity="warning",
            )
            return False
        return True

    def disabled_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run now (the footer greys it), or None; screens override."""
        return self.permission_reason(action)

    def action_refresh_data(self) -> None:
        """``r``: retry a lost connection at once, then reload what the screen shows."""
        self.kms_app.retry_connection_now()
        self.refresh_data()

    def refresh_data(self) -> None:
        """Reload what this screen shows (screens with data of their own override it)."""

    # --- hooks the command palette uses (the Keys screen overrides them) ------------------

    def command_key_ids(self) -> Sequence[str]:
        """Key ids this screen has loaded, offered by the palette's jump-to-key."""
        return ()

    def jump_to_key(self, key_id: str) -> None:
        """Highlight ``key_id`` (called after the palette switched to this screen)."""
