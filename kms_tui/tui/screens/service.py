"""The Service screen (`1`): the KMS state machine, its configuration, and the controls."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Static

from kms_tui.api.backends import BackendConfig
from kms_tui.api.errors import KmsError
from kms_tui.api.service_models import (
    AwsBackendSummary,
    KmsConfigInfo,
    LocalBackendSummary,
    ServiceStatus,
    StaticBackendSummary,
    UnknownBackendSummary,
    VaultKv2BackendSummary,
    VaultTransitBackendSummary,
)
from kms_tui.api.wire import ServiceState
from kms_tui.tui.dialogs.configure import ConfigureDialog
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path

__all__ = ["ServiceScreen", "summary_rows"]

# The actions that change the service, by the label their messages use.
_CONTROLS: dict[str, str] = {
    "configure": "configure",
    "start": "start",
    "stop": "stop",
    "restart": "restart",
    "clear_cache": "clear cache",
}


def summary_rows(status: ServiceStatus, config: KmsConfigInfo | None) -> list[tuple[str, str]]:
    """The configuration as (setting, value) rows; never a secret, only whether one is set."""
    rows: list[tuple[str, str]] = []
    summary = status.config_summary
    if summary is not None:
        backend = summary.backend_summary
        if isinstance(backend, LocalBackendSummary):
            rows.append(("key directory", backend.key_dir))
            rows.append(("master key", "set" if backend.has_master_key else "none (dev mode)"))
            if backend.file_permissions is not None:
                rows.append(("file permissions", f"0{backend.file_permissions:o}"))
        elif isinstance(backend, VaultKv2BackendSummary | VaultTransitBackendSummary):
            rows.append(("Vault address", backend.address))
            rows.append(("auth method", str(backend.auth_method_type)))
            rows.append(("stored credentials", "yes" if backend.has_stored_credentials else "no"))
            rows.append(("namespace", backend.namespace or "–"))
            rows.append(("mount path", backend.mount_path or "–"))
            if isinstance(backend, VaultKv2BackendSummary):
                rows.append(("KV mount", backend.kv_mount or "–"))
                rows.append(("key path prefix", backend.key_path_prefix or "–"))
            rows.append(("skip TLS verify", "yes" if backend.skip_tls_verify else "no"))
        elif isinstance(backend, AwsBackendSummary):
            rows.append(("region", backend.region))
            rows.append(("endpoint URL", backend.endpoint_url or "–"))
        elif isinstance(backend, StaticBackendSummary):
            rows.append(("key id", backend.key_id))
        elif isinstance(backend, UnknownBackendSummary):
            rows.extend((name, str(value)) for name, value in sorted(backend.fields.items()))
        rows.append(("default key", summary.default_key_id or "–"))
        rows.append(("timeout", f"{summary.timeout_seconds} s"))
        rows.append(("retry attempts", str(summary.retry_attempts)))
        cache = "on" if summary.enable_cache else "off"
        if summary.enable_cache:
            cache += f" ({summary.max_cached_keys} keys, TTL {summary.cache_ttl_seconds} s)"
        rows.append(("cache", cache))
    if config is not None:
        rows.append(("running backend", str(config.backend)))
        cache = "on" if config.cache_enabled else "off"
        if config.cache_enabled:
            cache += f" ({config.cache_max_keys} keys, TTL {config.cache_ttl_seconds} s)"
        rows.append(("running cache", cache))
    return rows


class ServiceScreen(KmsScreen):
    """Status badge, backend, health, configuration; configure, start, stop, restart, clear.

    The service status is the poller's (``app.service_status``); this screen fetches only the
    running configuration (``/kms/config``), which nothing else needs.
    """

    CSS_PATH = style_path("service.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "configure", "Configure", id="service.configure"),
        Binding("s", "start", "Start", id="service.start"),
        Binding("t", "stop", "Stop", id="service.stop"),
        Binding("R", "restart", "Restart", id="service.restart"),
        Binding("x", "clear_cache", "Clear cache", id="service.clear_cache"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: ServiceStatus | None = None
        self.config_info: KmsConfigInfo | None = None
        self.config_requests = 0  # configure/reconfigure requests sent (tests count them)
        self._shown_rows: list[tuple[str, str]] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="service-body"):
            with Horizontal(id="service-status-row"):
                yield Static("…", id="service-badge", classes="-unknown", markup=False)
                yield Static("loading the service status", id="service-detail", markup=False)
            yield Static("", id="service-error", markup=False)
            yield Static("", id="service-readonly", markup=False)
            yield DataTable(id="service-config", cursor_type="row", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#service-config", DataTable).add_columns("setting", "value")
        if self.ctx.read_only:
            self.query_one("#service-readonly", Static).update(
                "read-only session: configure, start, stop, restart and clear cache are disabled"
            )
        self.watch(self.kms_app, "service_status", self._status_changed)
        self.watch(self.kms_app, "connection_state", self._connection_changed)

    # --- what the poller saw ---------------------------------------------------------------

    def _status_changed(self, status: ServiceStatus | None) -> None:
        if status is None or status == self.status:
            return
        self._show(status, self.config_info if status.state is ServiceState.RUNNING else None)
        self._load_config()

    def _connection_changed(self, state: str) -> None:
        if state == "disconnected":
            badge = self.query_one("#service-badge", Static)
            badge.update("Unreachable")
            badge.set_classes("-unknown")
            self.query_one("#service-detail", Static).update("")
            error = self.kms_app.poller.last_error or "the server does not answer"
            self.query_one("#service-error", Static).update(error)
        elif self.status is not None:
            self._show(self.status, self.config_info)

    def refresh_data(self) -> None:
        """Ask the poller for a fresh status now; the configuration follows it."""
        self._poll_now()

    @work(exclusive=True, group="service-poll", exit_on_error=False)
    async def _poll_now(self) -> None:
        await self._fresh_status()

    async def _fresh_status(self) -> None:
        """After a change: the poller's next round, then the configuration that goes with it."""
        await self.kms_app.poller.poll_now()
        self._load_config()

    @work(exclusive=True, group="service-config", exit_on_error=False)
    async def _load_config(self) -> None:
        """Fetch ``/kms/config`` while the service runs (the summary rows need it)."""
        status = self.status
        if status is None or status.state is not ServiceState.RUNNING:
            return
        try:
            admin = await self.ctx.admin()
            config = await admin.get_config()
        except KmsError:
            return  # stopped between the poll and this call; the next status change catches up
        if self.status is status:
            self._show(status, config)

    def _show(self, status: ServiceStatus, config: KmsConfigInfo | None) -> None:
        self.status = status
        self.config_info = config
        badge = self.query_one("#service-badge", Static)
        badge.update(str(status.state))
        badge.set_classes(
            {
                ServiceState.NOT_CONFIGURED: "-notconfigured",
                ServiceState.CONFIGURED: "-configured",
                ServiceState.RUNNING: "-running",
                ServiceState.ERROR: "-error",
            }.get(status.state, "-unknown")
        )
        backend = str(status.backend_type) if status.backend_type is not None else "none"
        health = {True: "healthy", False: "UNHEALTHY", None: "n/a (not running)"}[status.healthy]
        self.query_one("#service-detail", Static).update(f"backend {backend} · health {health}")
        self.query_one("#service-error", Static).update(status.error_message or "")
        rows = summary_rows(status, config)
        if rows != self._shown_rows:
            self._shown_rows = rows
            table = self.query_one("#service-config", DataTable)
            table.clear()
            for setting, value in rows or [("configuration", "none yet: press c to configure")]:
                table.add_row(setting, value)
        self.refresh_bindings()

    @property
    def badge_text(self) -> str:
        """What the status badge shows."""
        return str(self.query_one("#service-badge", Static).content)

    # --- controls --------------------------------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run now (read-only session, or the service's state), or None."""
        if action not in _CONTROLS:
            return None
        if self.ctx.read_only:
            return f"read-only session: {_CONTROLS[action]} is disabled"
        if action == "configure":
            return None
        state = self.status.state if self.status is not None else None
        if state is None:
            return "the service status is not known yet"
        if action == "start" and state is ServiceState.RUNNING:
            return "the service is already running"
        if action == "start" and state is ServiceState.NOT_CONFIGURED:
            return "configure the service first"
        if action in ("stop", "restart", "clear_cache") and state is not ServiceState.RUNNING:
            return "the service is not running"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer greys what cannot run now (the palette says why)."""
        return None if self.disabled_reason(action) is not None else True

    def _allowed(self, action: str) -> bool:
        if not self.writable(_CONTROLS[action]):
            return False
        problem = self.disabled_reason(action)
        if problem is not None:
            self.notify(f"{_CONTROLS[action]}: {problem}", severity="warning")
            return False
        return True

    def action_configure(self) -> None:
        """Open the configure/reconfigure form."""
        if self._allowed("configure"):
            self._configure()

    def action_start(self) -> None:
        """Start the configured service."""
        if self._allowed("start"):
            self._start(force=False)

    def action_restart(self) -> None:
        """Restart the running service (``start`` with ``force``)."""
        if self._allowed("restart"):
            self._start(force=True)

    def action_stop(self) -> None:
        """Stop the service, after a confirmation."""
        if self._allowed("stop"):
            self._stop()

    def action_clear_cache(self) -> None:
        """Drop cached key metadata, after a confirmation."""
        if self._allowed("clear_cache"):
            self._clear_cache()

    # --- workers ---------------------------------------------------------------------------

    @work(exclusive=True, group="service-configure", exit_on_error=False)
    async def _configure(self) -> None:
        accepted = await self.app.push_screen_wait(ConfigureDialog(self.status, self._send_config))
        if accepted:
            await self._fresh_status()

    async def _send_config(self, config: BackendConfig, reconfigure: bool) -> str:
        """Send the form's config; refusals are reported and re-raised so the form stays."""
        action = "reconfigure" if reconfigure else "configure"
        target = config.to_wire()["backend_type"]
        admin = await self.ctx.admin()
        self.config_requests += 1
        try:
            result = await (admin.reconfigure if reconfigure else admin.configure)(config)
        except KmsError as err:
            self.report_error(action, target, err)
            raise
        self.report_done(action, target, result.message)
        return result.message

    @work(exclusive=True, group="service-control", exit_on_error=False)
    async def _start(self, *, force: bool) -> None:
        action = "restart" if force else "start"
        try:
            admin = await self.ctx.admin()
            result = await admin.start(force=force)
        except KmsError as err:
            self.report_error(action, "KMS service", err)
        else:
            self.report_done(action, "KMS service", result.message)
        await self._fresh_status()

    @work(exclusive=True, group="service-control", exit_on_error=False)
    async def _stop(self) -> None:
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                "Stop the KMS service?",
                "Encryption and decryption through this KMS fail until it is started again.",
                "Stop",
            )
        )
        if not confirmed:
            return
        try:
            admin = await self.ctx.admin()
            result = await admin.stop()
        except KmsError as err:
            self.report_error("stop", "KMS service", err)
        else:
            self.report_done("stop", "KMS service", result.message)
        await self._fresh_status()

    @work(exclusive=True, group="service-control", exit_on_error=False)
    async def _clear_cache(self) -> None:
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                "Clear the KMS cache?",
                "Cached key metadata is dropped; the hit and miss counters keep counting.",
                "Clear cache",
            )
        )
        if not confirmed:
            return
        try:
            admin = await self.ctx.admin()
            result = await admin.clear_cache()
        except KmsError as err:
            self.report_error("clear cache", "KMS cache", err)
            return
        self.report_done("clear cache", "KMS cache", result.message or "cache cleared")
