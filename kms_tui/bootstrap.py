"""First-run setup of the embedded server: a Local backend with a private master key, started.

- First run (service NotConfigured, no key files yet): a random master key is written to
  ``<config_dir>/embedded-master-key`` (file 0600, directory 0700), the Local backend is
  configured with key dir ``<data_dir>/keys`` and that key, and the service is started.
  ``allow_insecure_dev_defaults`` is set only when the key dir is under the temp dir (tests).
- Later runs: the server restores its own state. Configured but stopped: it is started.
  Running: nothing to do. Error: reported as the service's state, not retried here.
- The master key file is lost while encrypted key files exist and the server has no config
  (NotConfigured): :class:`BootstrapError` says so and nothing is written. A new key is never
  made over existing encrypted keys; the user restores the file (or moves the key dir away to
  start afresh). When the server still holds its configuration, it runs without the file.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kms_tui import paths
from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsError
from kms_tui.api.wire import ServiceState

__all__ = [
    "MASTER_KEY_FILE_NAME",
    "BootstrapError",
    "BootstrapResult",
    "bootstrap_embedded",
    "master_key_path",
]

MASTER_KEY_FILE_NAME = "embedded-master-key"


class BootstrapError(KmsError):
    """The embedded server cannot be set up safely; the message says what to do."""

    default_code = "BootstrapError"


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """What the bootstrap did, for the activity log and the tests."""

    configured: bool  # a Local backend was configured in this run
    created_master_key: bool  # a new master key file was written in this run
    state: ServiceState


def master_key_path() -> Path:
    """``<config_dir>/embedded-master-key``."""
    return paths.config_dir() / MASTER_KEY_FILE_NAME


def _under_temp_dir(path: Path) -> bool:
    temp = Path(tempfile.gettempdir()).resolve()
    return path.resolve().is_relative_to(temp)


def _has_key_files(key_dir: Path) -> bool:
    return key_dir.is_dir() and any(key_dir.glob("*.key"))


def _read_master_key(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise BootstrapError(f"cannot read the embedded master key {path}: {err.strerror}") from err
    if not text:
        raise BootstrapError(f"the embedded master key file {path} is empty; restore it")
    return text


def _master_key_for(key_dir: Path, key_file: Path) -> tuple[str, bool]:
    """(master key, whether it was created now); refuses to replace a lost key."""
    existing = _read_master_key(key_file)
    if existing is not None:
        if not paths.is_private(key_file):
            raise BootstrapError(
                f"{key_file} is readable by other users; run `chmod 600 {key_file}`"
            )
        return existing, False
    if _has_key_files(key_dir):
        raise BootstrapError(
            f"the embedded master key file {key_file} is missing but {key_dir} holds encrypted "
            "keys; restore the file (a new key would not open them), or move the key "
            "directory away to start with no keys"
        )
    master_key = secrets.token_urlsafe(32)
    paths.ensure_private_dir(key_file.parent)
    paths.write_private_file(key_file, (master_key + "\n").encode("utf-8"))
    return master_key, True


async def bootstrap_embedded(
    admin: KmsAdminClient, *, key_dir: Path, key_file: Path | None = None
) -> BootstrapResult:
    """Bring the embedded server to Running; raises :class:`KmsError` when it cannot."""
    key_file = key_file if key_file is not None else master_key_path()
    status = await admin.service_status()
    if status.state is ServiceState.RUNNING:
        return BootstrapResult(False, False, status.state)
    if status.state is ServiceState.CONFIGURED:
        result = await admin.start()
        return BootstrapResult(False, False, result.state)
    if status.state is not ServiceState.NOT_CONFIGURED:
        return BootstrapResult(False, False, status.state)
    from kms_tui.api.backends import LocalConfig  # only a first start configures

    master_key, created = _master_key_for(key_dir, key_file)
    paths.ensure_private_dir(key_dir)
    config = LocalConfig(
        key_dir=str(key_dir),
        master_key=master_key,
        allow_insecure_dev_defaults=_under_temp_dir(key_dir),
    )
    problems = config.validate()
    if problems:
        raise BootstrapError("; ".join(problem.message for problem in problems))
    configured = await admin.configure(config)
    if not configured.success:
        raise BootstrapError(f"configuring the embedded server failed: {configured.message}")
    result = await admin.start()
    if not result.success:
        raise BootstrapError(f"starting the embedded server failed: {result.message}")
    return BootstrapResult(True, created, result.state)
