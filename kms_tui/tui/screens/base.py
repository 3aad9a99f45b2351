"""The base of every top-level screen: its context, and one way to report, refuse and refresh."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.events import Mount
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kms_tui.api.errors import KmsError
from kms_tui.tui.context import AppContext
from kms_tui.tui.widgets.header import MAIN_HINT, KmsHeader

if TYPE_CHECKING:
    from kms_tui.api.models import KmsStatus

__all__ = ["KmsScreen", "error_text", "explain"]


def explain(err: KmsError) -> str:
    """What happened in an operator's words (where the error has them), then the server's."""
    message = err.message or type(err).__name__
    hint = err.hint
    if hint and hint.lower() not in message.lower():
        return f"{hint} (server: {message})"
    return message


def error_text(err: KmsError) -> str:
    """:func:`explain`, with the request id when the server gave one."""
    text = explain(err)
    if err.request_id:
        text += f" (request id {err.request_id})"
    return text


class KmsScreen(Screen[None]):
    """A top-level screen (one per mode) of the console; the header is mounted for it."""

    # (action, label) pairs the one-line hint under the header names, with their current keys
    # (after any keymap remapping); help and the command palette are always added.
    HINT_ACTIONS: ClassVar[tuple[tuple[str, str], ...]] = ()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh", id="screen.refresh"),
    ]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # `r` must also retry a lost connection at once, whatever a screen's refresh does.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("action_refresh_data")
        if callable(own) and not getattr(own, "_nudges_connection", False):
            cls.action_refresh_data = _nudging(own)  # type: ignore[method-assign]

    @on(Mount)
    def _mount_header(self) -> None:
        if not self.query(KmsHeader):
            self.mount(KmsHeader(self.hint_text()))

    def hint_text(self) -> str:
        """The hint line: this screen's main actions by their keys (after remapping), then help."""
        from kms_tui.tui.commands import screen_bindings

        keymap = self.ctx.settings.keymap
        keys_by_action: dict[str, str] = {}
        classes = [type(self), *(type(child) for child in self.walk_children()), type(self.app)]
        for cls in classes:
            for binding in screen_bindings(cls):
                key = keymap.get(binding.id, binding.key) if binding.id else binding.key
                shown = binding.key_display or self.app.get_key_display(
                    Binding(key.split(",")[0], binding.action)
                )
                keys_by_action.setdefault(binding.action, shown)
        parts = [
            f"{keys_by_action[action]} {label}"
            for action, label in self.HINT_ACTIONS
            if action in keys_by_action
        ]
        for action, label in (("help", "help"), ("command_palette", "commands")):
            if action in keys_by_action:
                parts.append(f"{keys_by_action[action]} {label}")
        return "  ".join(parts) if parts else MAIN_HINT

    @on(Worker.StateChanged)
    def _funnel_worker_error(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: hand the unexpected to the app's one funnel.
        if event.state is WorkerState.ERROR:
            funnel = getattr(self.app, "worker_failed", None)
            if callable(funnel):
                funnel(event.worker)

    def nudge_connection(self) -> None:
        """Ask the app to retry a lost connection now (no-op when connected)."""
        retry = getattr(self.app, "retry_connection_now", None)
        if callable(retry):
            retry()

    @property
    def ctx(self) -> AppContext:
        """The app's current context (it changes when the profile is switched)."""
        context = getattr(self.app, "context", None)
        if not isinstance(context, AppContext):
            raise RuntimeError("KmsScreen needs an app with an AppContext (use build_app)")
        return context

    @property
    def kms_status(self) -> KmsStatus | None:
        """The app's last ``/kms/status`` answer (capabilities, cache stats), if any."""
        status: Any = getattr(self.app, "kms_status", None)
        return status  # type: ignore[no-any-return]

    def capability_problem(self, capability: str, action_label: str) -> str | None:
        """Why ``action_label`` is unavailable on this backend, or None when it may be tried.

        ``capability`` is a field of :class:`kms_tui.api.models.Capabilities` (``"rotate"``,
        ``"enable_disable"``, ...). Unknown capabilities (older servers) count as available.
        """
        status = self.kms_status
        capabilities = status.capabilities if status is not None else None
        if capabilities is None or getattr(capabilities, capability, True):
            return None
        backend = status.backend_type if status is not None else "this backend"
        return f"{action_label} is not supported by the {backend} backend"

    def report_error(self, action: str, target: str | None, err: KmsError) -> None:
        """Tell the user what the server said (with its request id) and keep it in the log."""
        where = f" {target}" if target else ""
        self.notify(error_text(err), title=f"{action}{where} failed", severity="error")
        self.ctx.activity.record(
            action, target, False, message=explain(err), request_id=err.request_id
        )

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

    def action_refresh_data(self) -> None:
        """``r``: reload what the screen shows; screens override (the retry is added for them)."""
        self.nudge_connection()

    # --- hooks the command palette uses (the Keys screen overrides them) ------------------

    def command_key_ids(self) -> Sequence[str]:
        """Key ids this screen has loaded, offered by the palette's jump-to-key."""
        return ()

    def jump_to_key(self, key_id: str) -> None:
        """Highlight ``key_id`` (called after the palette switched to this screen)."""


def _nudging(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a screen's refresh action so it first nudges the app's connection retry."""

    @functools.wraps(action)
    def refresh(self: KmsScreen, *args: Any, **kwargs: Any) -> Any:
        self.nudge_connection()
        return action(self, *args, **kwargs)

    refresh._nudges_connection = True  # type: ignore[attr-defined]
    return refresh
