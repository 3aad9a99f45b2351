"""The Service screen (`1`): the KMS state machine, its configuration, and the controls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from kms_tui import paths
from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import BackendConfig
from kms_tui.api.backup_files import (
    BUNDLE_SUFFIX,
    Bundle,
    BundleError,
    bundle_from_bytes,
    place_bundle,
    refusal_text,
    sealed_statuses,
    unavailable_reason,
)
from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.doctor import TITLES, Check, checks
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
from kms_tui.api.wire import ConflictPolicy, KeyStatus, ServiceState
from kms_tui.tui.dialogs.backup import (
    BackupPathDialog,
    ChecklistDialog,
    RestoreConfirmDialog,
    RestorePathDialog,
)
from kms_tui.tui.dialogs.configure import ConfigureDialog
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.results import KeyResult, ResultsDialog
from kms_tui.tui.error_text import error_text
from kms_tui.tui.key_usability import key_state_of
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter

__all__ = ["ServiceScreen", "summary_rows"]

# The actions that change the service, by the label their messages use.
_CONTROLS: dict[str, str] = {
    "configure": "configure",
    "start": "start",
    "stop": "stop",
    "restart": "restart",
    "clear_cache": "clear cache",
    "restore": "restore",  # backup only reads the KMS: allowed read-only, as on the command line
}


@dataclass(frozen=True, slots=True)
class _Target:
    """This session's server as the health checklist sees it."""

    endpoint: str
    verify: bool | str
    admin: KmsAdminClient
    buckets: BucketEncryptionClient
    label: str
    bootstrap_error: KmsError | None = None


def default_backup_path(stamp: str) -> Path:
    """``<data dir>/backups/kms-<stamp>.kms-backup.json``."""
    return paths.data_dir() / "backups" / f"kms-{stamp}{BUNDLE_SUFFIX}"


def _states_text(bundle: Bundle) -> str:
    """The keys' states when the backup KEK is at hand, or why they stay sealed."""
    found, note = sealed_statuses(bundle)
    if found is None:
        return note or "sealed"
    counts: dict[str, int] = {}
    for status, _ in found.values():
        try:
            word = key_state_of(KeyStatus(status)).value if status else "?"
        except ValueError:
            word = status or "?"
        counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


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
    IAM_ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "configure": ("kms:Configure",),
        "start": ("kms:ServiceControl",),
        "stop": ("kms:ServiceControl",),
        "restart": ("kms:ServiceControl",),
        "clear_cache": ("kms:ClearCache",),
        "backup": ("kms:Backup",),
        "restore": ("kms:Restore",),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "configure", "Configure", id="service.configure"),
        Binding("s", "start", "Start", id="service.start"),
        Binding("t", "stop", "Stop", id="service.stop"),
        Binding("R", "restart", "Restart", id="service.restart"),
        Binding("x", "clear_cache", "Clear cache", id="service.clear_cache"),
        # "Health", not "Health check": the footer must fit 120 columns (the tooltip says more).
        Binding(
            "h",
            "doctor",
            "Health",
            tooltip="Health check: the checklist `kms-tui doctor` runs",
            id="service.doctor",
        ),
        Binding("b", "backup", "Back up", id="service.backup"),
        Binding("o", "restore", "Restore", id="service.restore"),
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
        yield KmsFooter()

    def on_mount(self) -> None:
        self.query_one("#service-config", DataTable).add_columns("setting", "value")
        if self.ctx.read_only:
            self.query_one("#service-readonly", Static).update(
                "read-only session: configure, start, stop, restart, clear cache and restore are "
                "disabled"
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
        """Why ``action`` cannot run now (read-only session, the account's rights, or the
        service's state), or None."""
        if action not in _CONTROLS:
            return self.permission_reason(action)
        if self.ctx.read_only:
            return f"read-only session: {_CONTROLS[action]} is disabled"
        denied = self.permission_reason(action)
        if denied is not None or action in ("configure", "restore"):
            return denied
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

    # --- health check, backup and restore ---------------------------------------------------

    def action_doctor(self) -> None:
        """Run the health checklist (the one ``kms-tui doctor`` runs, without the write probe)."""
        self._doctor()

    def action_backup(self) -> None:
        """Have the server write a backup; keep a 0600 copy in a file."""
        self._backup()

    def action_restore(self) -> None:
        """Restore keys from a backup file, after its summary and the typed backup id."""
        if self._allowed("restore"):
            self._restore()

    def _refuse(self, action: str, target: str | None, message: str) -> None:
        """Say plainly why nothing was done, and keep it in the log."""
        self.notify(message, title=f"{action} refused", severity="error")
        self.ctx.activity.record(action, target, False, message=message)

    @work(exclusive=True, group="service-doctor", exit_on_error=False)
    async def _doctor(self) -> None:
        label = self.ctx.endpoint_label
        self.notify("running the health check…", title="health check")
        try:
            admin = await self.ctx.admin()
            buckets = await self.ctx.buckets()
        except KmsError as err:
            results = [
                Check("endpoint", "failed", error_text(err), err.hint or "check the connection")
            ]
            results += [
                Check(name, "skipped", "no connection")
                for name in TITLES
                if name not in ("endpoint", "probe")
            ]
        else:
            target = _Target(admin.endpoint, self.ctx.connection.verify, admin, buckets, label)
            try:
                results = await checks(target)
            except KmsError as err:
                self.report_error("health check", label, err)
                return
        failed = [check.title for check in results if check.outcome == "failed"]
        dialog = ChecklistDialog(label, results)
        message = f"{len(results)} checks: {dialog.summary}"
        if failed:
            message += f" (failed: {'; '.join(failed)})"
        self.ctx.activity.record("health check", label, not failed, message=message)
        await self.app.push_screen(dialog)

    @work(exclusive=True, group="service-backup", exit_on_error=False)
    async def _backup(self) -> None:
        stamp = self.ctx.clock().strftime("%Y%m%dT%H%M%SZ")
        target = await self.app.push_screen_wait(BackupPathDialog(default_backup_path(stamp)))
        if target is None:
            return
        where = str(target)
        overwrite = False
        if target.exists():
            overwrite = await self.app.push_screen_wait(
                ConfirmDialog(
                    "Overwrite the file?",
                    f"{target} exists. Overwriting it replaces the backup it holds.",
                    "Overwrite",
                )
            )
            if not overwrite:
                self.notify(f"{target} was left as it was", title="back up cancelled")
                return
        try:
            admin = await self.ctx.admin()
            status = await admin.backup_status()
            reason = unavailable_reason(status, restoring=False)
            if reason is not None or status.backup_root is None:
                self._refuse("back up", where, f"this server cannot make a backup now: {reason}")
                return
            result = await admin.create_backup()
        except KmsError as err:
            plain = refusal_text(err, "take backups")
            if plain is None:
                self.report_error("back up", where, err)
            else:
                self._refuse("back up", where, plain)
            return
        server_file = Path(status.backup_root) / f"{result.backup_id}{BUNDLE_SUFFIX}"
        try:
            raw = server_file.read_bytes()
            bundle = bundle_from_bytes(raw, server_file)
        except OSError:
            self._refuse(
                "back up",
                where,
                f"the server wrote backup {result.backup_id} to {server_file} on its own disk, "
                f"which this machine cannot read, so {target} was not written; copy that file "
                "from the server (it holds sealed key material: keep it 0600)",
            )
            return
        except BundleError as err:
            self._refuse("back up", where, err.message)
            return
        try:
            paths.write_private_file(target, raw, create_only=not overwrite)
        except FileExistsError:
            self._refuse("back up", where, f"{target} appeared meanwhile; nothing was written")
            return
        except OSError as err:
            self._refuse("back up", where, f"{target}: cannot write it: {err.strerror}")
            return
        self.report_done(
            "back up",
            where,
            f"backup {bundle.backup_id}: {len(bundle.key_ids)} key(s) written to {target} (0600)",
        )

    @work(exclusive=True, group="service-restore", exit_on_error=False)
    async def _restore(self) -> None:
        bundle = await self.app.push_screen_wait(RestorePathDialog())
        if bundle is None:
            return
        placed: Path | None = None
        try:
            admin = await self.ctx.admin()
            status = await admin.backup_status()
            reason = unavailable_reason(status, restoring=True)
            if reason is not None or status.backup_root is None:
                self._refuse(
                    "restore",
                    bundle.backup_id,
                    f"this server cannot restore a backup now: {reason}",
                )
                return
            there, wrote = place_bundle(bundle, Path(status.backup_root))
            placed = there if wrote else None
            report = (await admin.restore_dry_run(bundle.backup_id)).report
            if report.blockers:
                detail = "; ".join(f"{b.code}: {b.detail}" for b in report.blockers)
                self._refuse(
                    "restore",
                    bundle.backup_id,
                    f"the server cannot restore this bundle: {detail}; nothing was changed",
                )
                return
            if report.conflicts:
                clashing = ", ".join(sorted(c.key_id for c in report.conflicts))
                self._refuse(
                    "restore",
                    bundle.backup_id,
                    f"these keys of the bundle already exist on the server: {clashing}; the "
                    "server restores only into a key directory holding none of the bundle's "
                    "keys, so nothing was changed",
                )
                return
            running = (await admin.service_status()).state is ServiceState.RUNNING
            typed = await self.app.push_screen_wait(
                RestoreConfirmDialog(bundle, _states_text(bundle), stops_service=running)
            )
            if typed is None:
                self.notify("nothing was changed", title="restore cancelled")
                return
            restored = await self._restore_keys(admin, bundle, running)
            if restored is not None:
                placed = None  # the bundle stays where the server keeps its backups
        except KmsError as err:
            plain = refusal_text(err, "restore backups")
            if plain is None:
                self.report_error("restore", bundle.backup_id, err)
            else:
                self._refuse("restore", bundle.backup_id, plain)
            return
        except BundleError as err:
            self._refuse("restore", bundle.backup_id, err.message)
            return
        finally:
            if placed is not None:
                placed.unlink(missing_ok=True)
        await self._fresh_status()

    async def _restore_keys(
        self, admin: KmsAdminClient, bundle: Bundle, running: bool
    ) -> list[str] | None:
        """Stop, restore, start; show each key's result. None: the restore request failed."""
        failure: KmsError | None = None
        restored: list[str] | None = None
        if running:
            await admin.stop()
        try:
            result = await admin.restore(
                bundle.backup_id,
                confirm_backup_id=bundle.backup_id,
                confirm_conflict_policy=ConflictPolicy.FAIL,
            )
            restored = list(result.restored_key_ids)
        except KmsError as err:
            failure = err
        finally:
            if running:
                try:
                    started = await admin.start()
                except KmsError as err:
                    self.report_error("start", "KMS service", err)
                else:
                    if not started.success:
                        self.notify(
                            f"the KMS service did not start: {started.message}",
                            title="restore",
                            severity="warning",
                        )
        done = restored if restored is not None else await self._present_keys(admin, bundle)
        not_restored = [key_id for key_id in bundle.key_ids if key_id not in set(done)]
        message = f"restored {len(done)} of {len(bundle.key_ids)} key(s)"
        if done:
            message += f": {', '.join(done)}"
        if not_restored:
            message += f"; not restored: {', '.join(not_restored)}"
        if failure is not None:
            message = f"the restore failed ({error_text(failure)}); {message}"
        ok = failure is None and not not_restored
        self.notify(message, title="restore", severity="information" if ok else "error")
        self.ctx.activity.record(
            "restore",
            bundle.backup_id,
            ok,
            message=message,
            request_id=failure.request_id if failure is not None else None,
        )
        results = [KeyResult(key_id, True, "restored") for key_id in done]
        results += [KeyResult(key_id, False, "not restored") for key_id in not_restored]
        await self.app.push_screen(ResultsDialog(f"Restore of {bundle.backup_id}", results))
        return restored

    async def _present_keys(self, admin: KmsAdminClient, bundle: Bundle) -> list[str]:
        """After a failed restore: which of the bundle's keys the server has now.

        The dry run found none of them before, so each one present was restored.
        """
        present: list[str] = []
        for key_id in bundle.key_ids:
            try:
                await admin.describe_key(key_id)
            except KmsError:  # missing, or unknown: counted as not restored (nothing promised)
                continue
            present.append(key_id)
        return present
