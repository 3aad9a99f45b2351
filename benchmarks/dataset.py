"""The keys the benchmarks run against, and the directories the console finds them in.

A data set is one temporary root laid out exactly as the console's embedded mode expects
(``XDG_*`` point inside it): ``data/kms-tui/server`` holds the server's persisted state,
``data/kms-tui/keys`` the key directory, ``config/kms-tui/embedded-master-key`` the master key.
Seeding runs once per harness run, in a child process (``python -m benchmarks.dataset``):
the server is configured and started through the real admin API, then the records are written
with the key store's bulk ``create_many``. Every later process (console or in-process case)
finds a configured, Running server and reuses it.

Only the standard library is imported at the top; kms_tui is imported inside :func:`seed`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DataSet",
    "description_for",
    "key_id_for",
    "synthetic_row",
    "tags_for",
]

TEAMS = ("red", "blue", "green", "amber", "violet", "teal", "coral", "slate")
ENVS = ("prod", "stage", "dev")
MASTER_KEY = "benchmark-master-key-not-a-secret-0123456789"
_DISABLED_EVERY = 1000
_PENDING_EVERY = 2000


def key_id_for(index: int) -> str:
    """Ids sort in index order, so key 0 is the first row of the table."""
    return f"bench-key-{index:06d}"


def description_for(index: int) -> str:
    """A description of realistic length that the filter can match words in."""
    return f"Benchmark key {index} for the {TEAMS[index % len(TEAMS)]} team"


def tags_for(index: int) -> dict[str, str]:
    """Two tags per key, spread over a few values."""
    return {"team": TEAMS[index % len(TEAMS)], "env": ENVS[index % len(ENVS)]}


def state_for(index: int) -> str:
    """Mostly Active; a few Disabled and PendingDeletion, as a real key list has."""
    if index % _PENDING_EVERY == _PENDING_EVERY - 1:
        return "PendingDeletion"
    if index % _DISABLED_EVERY == _DISABLED_EVERY - 1:
        return "Disabled"
    return "Active"


def synthetic_row(index: int) -> tuple[str, str, str, str, str]:
    """The baseline app's row for key ``index``: the same text the console would show."""
    tags = ", ".join(f"{name}={value}" for name, value in sorted(tags_for(index).items()))
    state = "Enabled" if state_for(index) == "Active" else state_for(index)
    return (key_id_for(index), description_for(index), state, "2026-01-15 12:00", tags)


@dataclass(frozen=True, slots=True)
class DataSet:
    """One seeded root; ``env()`` points a console process at it."""

    root: Path
    key_count: int

    @property
    def data_home(self) -> Path:
        """``XDG_DATA_HOME``."""
        return self.root / "data"

    @property
    def config_home(self) -> Path:
        """``XDG_CONFIG_HOME``."""
        return self.root / "config"

    @property
    def server_dir(self) -> Path:
        """The embedded server's data directory, where the console's factory puts it."""
        return self.data_home / "kms-tui" / "server"

    @property
    def key_dir(self) -> Path:
        """The key directory, where the console's bootstrap puts it."""
        return self.data_home / "kms-tui" / "keys"

    @property
    def config_file(self) -> Path:
        """The console's config file (poll interval set explicitly)."""
        return self.root / "console.toml"

    @property
    def server_log(self) -> Path:
        """Log file for in-process servers (the console logs under ``XDG_STATE_HOME``)."""
        return self.root / "server.log"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a console process using this data set."""
        env = dict(os.environ if base is None else base)
        for name in ("RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY", "TEXTUAL", "KMS_TUI_CONFIG"):
            env.pop(name, None)
        env.update(
            XDG_DATA_HOME=str(self.data_home),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_STATE_HOME=str(self.root / "state"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            KMS_TUI_CONFIG=str(self.config_file),
        )
        return env

    def create(self, *, cwd: Path, poll_interval_seconds: float = 2.0) -> float:
        """Seed in a child process (keeps this one small); returns the seconds it took."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(f"poll_interval_seconds = {poll_interval_seconds}\n")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "benchmarks.dataset", str(self.root), str(self.key_count)],
            env=self.env(),
            cwd=cwd,
            check=True,
        )
        return time.perf_counter() - started


def _records(count: int) -> list[object]:
    from datetime import timedelta

    from kms_tui.embedded.keyrecord import KeyRecord
    from kms_tui.embedded.timefmt import format_zoned, utc_now

    now = utc_now()
    created = format_zoned(now - timedelta(days=30))
    deletion = format_zoned(now + timedelta(days=20))
    records: list[object] = []
    for index in range(count):
        state = state_for(index)
        records.append(
            KeyRecord(
                key_id=key_id_for(index),
                material=os.urandom(32),
                description=description_for(index),
                metadata=tags_for(index),
                status=state,
                created_at=created,
                deletion_date=deletion if state == "PendingDeletion" else None,
            )
        )
    return records


async def _configure(server: object, key_dir: Path) -> None:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.backends import LocalConfig
    from kms_tui.embedded.server import EmbeddedServer

    assert isinstance(server, EmbeddedServer)
    async with KmsAdminClient(server.endpoint, server.access_key, server.secret_key) as admin:
        config = LocalConfig(
            key_dir=str(key_dir), master_key=MASTER_KEY, allow_insecure_dev_defaults=True
        )
        configured = await admin.configure(config)
        if not configured.success:
            raise RuntimeError(f"configure failed: {configured.message}")
        started = await admin.start()
        if not started.success:
            raise RuntimeError(f"start failed: {started.message}")


def seed(root: Path, count: int) -> None:
    """Configure a Local backend over ``root``'s key dir and write ``count`` keys into it."""
    import asyncio

    from kms_tui import paths
    from kms_tui.bootstrap import master_key_path
    from kms_tui.embedded.server import EmbeddedServer

    dataset = DataSet(root, count)
    # The file the console's bootstrap would have written on a first run.
    paths.write_private_file(master_key_path(), (MASTER_KEY + "\n").encode())
    paths.ensure_private_dir(dataset.key_dir)
    server = EmbeddedServer(dataset.server_dir, log_file=dataset.server_log)
    server.start()
    try:
        asyncio.run(_configure(server, dataset.key_dir))
        store = server.service.keys.require_store()
        store.create_many(_records(count))  # type: ignore[arg-type]
    finally:
        server.stop()
    (root / "seeded.json").write_text(json.dumps({"keys": count}))


if __name__ == "__main__":
    seed(Path(sys.argv[1]), int(sys.argv[2]))
