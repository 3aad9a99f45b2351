"""The embedded KMS service: state machine and persisted configuration (keys: ``.keys``)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kms_tui.embedded import timefmt
from kms_tui.embedded.cache import CacheStats, MetadataCache
from kms_tui.embedded.config import (
    LOCAL,
    ConfigValidationError,
    KmsConfig,
    PersistedState,
    load_state,
    normalize_against,
    save_state,
    validate_config,
)
from kms_tui.embedded.keyrecord import KeyStoreError
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.embedded.service_keys import BucketReferences, KeyOperations, KeyView, KmsOpError

__all__ = ["KmsService", "OpResult"]

log = logging.getLogger("kms_tui.embedded")

NOT_CONFIGURED = "NotConfigured"
CONFIGURED = "Configured"
RUNNING = "Running"
ERROR = "Error"


@dataclass(frozen=True, slots=True)
class OpResult:
    """Outcome of configure/reconfigure/start/stop (always answered with HTTP 200)."""

    success: bool
    message: str


class KmsService:
    """One KMS service instance; every public method holds the service lock.

    The key operations (create, list, describe, delete, data keys, the sweep...) are ``keys``,
    a :class:`~kms_tui.embedded.service_keys.KeyOperations` over this service's running store.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        references: BucketReferences | None = None,
        allow_immediate_deletion: bool = False,
        clock: Callable[[], datetime] = timefmt.utc_now,
    ) -> None:
        self._data_dir = Path(data_dir)
        self._clock = clock
        self._lock = threading.RLock()
        self._status = NOT_CONFIGURED
        self._error: str | None = None
        self._config: KmsConfig | None = None
        self._store: LocalKeyStore | None = None
        self._deployment_id = ""
        self.cache: MetadataCache[KeyView] = MetadataCache(clock=clock)
        self.keys = KeyOperations(
            lock=self._lock,
            running_store=lambda: self._store if self._status == RUNNING else None,
            config=lambda: self._config,
            cache=self.cache,
            clock=clock,
            references=references,
            allow_immediate_deletion=allow_immediate_deletion,
        )

    # ---------------------------------------------------------------- lifecycle

    def load(self) -> None:
        """Read <data_dir>/kms_config.json; if it was Running, start again."""
        with self._lock:
            try:
                state = load_state(self._data_dir)
            except Exception as err:  # a damaged file must not stop the server from booting
                log.error("persisted KMS configuration could not be read: %s", type(err).__name__)
                self._set_error(f"persisted KMS configuration could not be read: {err}")
                return
            if state is None:
                return
            self._deployment_id = state.deployment_id
            self._config = state.config
            self._status = CONFIGURED if state.config is not None else NOT_CONFIGURED
            if state.config is not None and state.running:
                # The file already says Running: no need to write (and fsync) it again.
                result = self._start_locked(force=False, persist=False)
                log.info("KMS auto-start after load: %s", result.message)

    def close(self) -> None:
        """Close the key store; keep the persisted state."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._status == RUNNING:
                self._status = CONFIGURED

    @property
    def is_running(self) -> bool:
        """Whether the backend is open and serving."""
        return self._status == RUNNING and self._store is not None

    @property
    def config(self) -> KmsConfig | None:
        """The current configuration (with secrets; never render it directly)."""
        return self._config

    @property
    def deployment_id(self) -> str:
        """Stable id of this data dir's KMS deployment (empty until first configure)."""
        return self._deployment_id

    @property
    def lock(self) -> threading.RLock:
        """The service lock, for routes (backup) that need several steps to be atomic."""
        return self._lock

    def now(self) -> datetime:
        """The injected clock."""
        return self._clock()

    def status_json(self) -> Any:
        """KmsServiceStatus as JSON: a string, or ``{"Error": msg}``."""
        if self._status == ERROR:
            return {ERROR: self._error or ""}
        return self._status

    def status_debug(self) -> str:
        """The Rust Debug rendering used by GET /kms/backup."""
        if self._status == ERROR:
            escaped = (self._error or "").replace("\\", "\\\\").replace('"', '\\"')
            return f'Error("{escaped}")'
        return self._status

    def default_key_id(self) -> str | None:
        """The configured default key id, None if unset."""
        config = self._config
        return config.default_key_id if config is not None else None

    def cache_stats(self) -> CacheStats | None:
        """Counters when the cache is enabled, else None."""
        config = self._config
        if config is None or not config.enable_cache:
            return None
        return self.cache.stats()

    def key_exists(self, key_id: str) -> bool:
        """False when not running or absent."""
        with self._lock:
            store = self._store
            return bool(store is not None and self.is_running and store.contains(key_id))

    # ---------------------------------------------------------------- state machine

    def configure(self, requested: KmsConfig) -> OpResult:
        """POST /kms/configure after parsing; ConfigInputError propagates (plain-text 400)."""
        with self._lock:
            if self._status == RUNNING:
                return OpResult(
                    False,
                    "Failed to configure KMS: Cannot configure KMS while it is running; "
                    "use reconfigure instead",
                )
            normalized = normalize_against(requested, self._config)
            try:
                config = validate_config(normalized)
            except ConfigValidationError as err:
                return OpResult(False, f"Failed to configure KMS: {err}")
            previous = (self._config, self._status, self._error)
            self._config = config
            self._status, self._error = CONFIGURED, None
            try:
                self._persist(running=False)
            except OSError as err:
                self._config, self._status, self._error = previous
                return OpResult(False, f"Failed to configure KMS: Backend error: {err}")
            log.info("KMS configured (backend %s)", config.backend)
            return OpResult(True, "KMS configured successfully")

    def reconfigure(self, requested: KmsConfig) -> OpResult:
        """POST /kms/reconfigure: build the new backend, persist it and run it."""
        prefix = "Failed to reconfigure KMS: "
        with self._lock:
            normalized = normalize_against(requested, self._config)
            try:
                config = validate_config(normalized)
            except ConfigValidationError as err:
                return OpResult(False, f"{prefix}{err}")
            try:
                store = self._build_backend(config)
            except KmsOpError as err:
                return OpResult(False, f"{prefix}Backend error: {prefix}{err}")
            old_store, previous = self._store, (self._config, self._status, self._error)
            self._store, self._config = store, config
            self._status, self._error = RUNNING, None
            try:
                self._persist(running=True)
            except OSError as err:
                store.close()
                self._store = old_store
                self._config, self._status, self._error = previous
                return OpResult(False, f"{prefix}Backend error: {prefix}{err}")
            if old_store is not None:
                old_store.close()
            self._apply_cache(config)
            log.info("KMS reconfigured and running (backend %s)", config.backend)
            return OpResult(True, "KMS reconfigured and restarted successfully")

    def start(self, *, force: bool = False) -> OpResult:
        """POST /kms/start."""
        with self._lock:
            return self._start_locked(force=force)

    def stop(self) -> OpResult:
        """POST /kms/stop; always succeeds."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._status = CONFIGURED if self._config is not None else NOT_CONFIGURED
            self._error = None
            if self._config is not None:
                try:
                    self._persist(running=False)
                except OSError as err:
                    log.error("could not persist the stopped state: %s", err)
            return OpResult(True, "KMS service stopped successfully")

    def _start_locked(self, *, force: bool, persist: bool = True) -> OpResult:
        restarting = self.is_running
        if restarting and not force:
            return OpResult(False, "KMS service is already running. Use force=true to restart.")
        prefix = "Failed to start or restart KMS service: "
        config = self._config
        if config is None:
            self._set_error("Cannot start KMS: no configuration provided")
            return OpResult(False, prefix + "Cannot start KMS: no configuration provided")
        if self._store is not None:
            self._store.close()
            self._store = None
        try:
            store = self._build_backend(config)
        except KmsOpError as err:
            self._set_error(f"Failed to create KMS backend: {err}")
            return OpResult(False, f"{prefix}Failed to create KMS backend: {err}")
        self._store = store
        self._status, self._error = RUNNING, None
        self._apply_cache(config)
        try:
            if persist:
                self._persist(running=True)
        except OSError as err:
            log.error("could not persist the running state: %s", err)
        if restarting:
            return OpResult(True, "KMS service restarted successfully")
        return OpResult(True, "KMS service started successfully")

    def _build_backend(self, config: KmsConfig) -> LocalKeyStore:
        if config.backend != LOCAL:
            raise KmsOpError(
                "unsupported",
                "Configuration error: this embedded kms-tui server runs only the Local backend; "
                f"the {config.backend} configuration is stored but cannot be started here",
            )
        store = LocalKeyStore(
            Path(config.key_dir or ""),
            config.master_key,
            file_permissions=config.file_permissions,
            allow_plaintext=config.allow_insecure_dev_defaults,
        )
        try:
            store.open()
        except (KeyStoreError, OSError) as err:
            raise KmsOpError("internal", f"Backend error: {err}") from err
        for key_id, reason in sorted(store.unreadable_reasons.items()):
            log.warning("key record %r in %s is unreadable (%s)", key_id, store.key_dir, reason)
        return store

    def _apply_cache(self, config: KmsConfig) -> None:
        self.cache.configure(config.max_cached_keys, config.cache_ttl_seconds)
        self.cache.clear()

    def _set_error(self, message: str) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self._status, self._error = ERROR, message

    def _persist(self, *, running: bool) -> None:
        if not self._deployment_id:
            self._deployment_id = uuid.uuid4().hex
        save_state(self._data_dir, PersistedState(self._config, running, self._deployment_id))

    def health(self) -> bool:
        """Whether the running backend answers (the store is open and its directory exists)."""
        with self._lock:
            store, config = self._store, self._config
            if store is None or config is None:
                return False
            return Path(config.key_dir or "").is_dir()
