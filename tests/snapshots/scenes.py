"""Reproducible frames of every screen: a seeded server with fixed ids and clocks, and scenes.

Used by the snapshot tests (``tests/snapshots/test_snapshots.py``) and by the screenshot
script (``scripts/screenshots.py``), so the README's pictures and the tests show the same
frames. Everything that would differ between runs is fixed: key ids are names, the server's
and the console's clocks are :data:`FROZEN_NOW`, bucket creation dates come from the same
clock, the poll latency timer advances by fixed steps, and the header shows a fixed endpoint.
Nothing random (a data key's ciphertext, a request id) is on any frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from textual.pilot import Pilot

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import LocalConfig
from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.embedded import buckets as bucket_store_module
from kms_tui.embedded import objects as object_store_module
from kms_tui.embedded.accounts import Account
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.policy import CANNED_POLICIES
from kms_tui.settings import Connection, Settings
from kms_tui.tui.app import KmsTuiApp
from tests.tui.helpers import next_poll, screen_of, wait_for_workers, wait_until

__all__ = [
    "FROZEN_NOW",
    "SCENES",
    "SCREEN_SIZE",
    "Scene",
    "SeededWorld",
    "seeded_world",
]

SCREEN_SIZE = (120, 36)
FROZEN_NOW = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
MASTER_KEY = "screenshots-master-key-not-a-secret-0001"
ACCESS_KEY = "kmsadmin"
SECRET_KEY = "screenshots-secret-key-not-a-secret"
ENDPOINT_LABEL = "embedded http://127.0.0.1:9000"
AUDITOR_ACCESS_KEY = "auditor"
AUDITOR_SECRET_KEY = "screenshots-auditor-secret-not-a-secret"

# (id, description, tags, days before FROZEN_NOW it was created)
SEED_KEYS: tuple[tuple[str, str, dict[str, str], int], ...] = (
    ("analytics-key", "Analytics exports", {"team": "data"}, 40),
    ("app-key", "Application data", {"team": "payments", "env": "prod"}, 90),
    ("backup-key", "Nightly backups", {"team": "ops"}, 120),
    ("legacy-key", "Retired 2025 tenant key", {"env": "legacy"}, 400),
    ("reports-key", "Monthly reports", {}, 12),
    ("staging-key", "Staging environment", {"env": "staging"}, 5),
)
DISABLED_KEY = "analytics-key"
PENDING_KEY = "legacy-key"  # scheduled for deletion with a 7-day window, two days ago
PENDING_SCHEDULED_DAYS_AGO = 2
# (bucket, None | "AES256" | key id)
SEED_BUCKETS: tuple[tuple[str, str | None], ...] = (
    ("archive", PENDING_KEY),
    ("invoices", "app-key"),
    ("logs", "AES256"),
    ("scratch", None),
)
# (bucket, object key, size, explicit SSE-KMS key or None for the bucket default), written before
# DISABLED_KEY is disabled and PENDING_KEY scheduled, so the Objects screen marks some of them.
SEED_OBJECTS: tuple[tuple[str, str, int, str | None], ...] = (
    ("archive", "2025/tenant-export.tar", 48_213_504, None),
    ("archive", "2025/tenant-ledger.csv", 183_422, None),
    ("invoices", "2026/01/inv-0001.pdf", 84_211, None),
    ("invoices", "2026/01/inv-0002.pdf", 91_730, None),
    ("invoices", "2026/02/inv-0003.pdf", 77_054, None),
    ("invoices", "exports/q4-analytics.csv", 2_394_112, DISABLED_KEY),
    ("invoices", "legacy/2025-summary.pdf", 412_876, PENDING_KEY),
    ("scratch", "notes.txt", 1_204, None),
)


class FrozenClock:
    """A clock that stands still at a time the seeding code moves; callable like ``utc_now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class StepTimer:
    """A ``perf_counter`` stand-in whose intervals cycle through fixed steps (poll latency)."""

    def __init__(self, steps_ms: tuple[float, ...] = (4.0, 6.0, 3.0, 9.0, 5.0, 4.0)) -> None:
        self._steps_ms = steps_ms
        self.restart()

    def restart(self) -> None:
        """Back to the first step (a scene draws from here whatever was polled before)."""
        self._now = 0.0
        self._calls = 0
        self._steps = itertools.cycle(self._steps_ms)

    def __call__(self) -> float:
        # Polls call it twice (start, end): only the end advances, so latency is the step.
        self._calls += 1
        if self._calls % 2 == 0:
            self._now += next(self._steps) / 1000.0
        return self._now


@dataclass
class SeededWorld:
    """A running, seeded embedded server and a way to build consoles on it."""

    server: EmbeddedServer
    clock: FrozenClock

    def connection(self, *, read_only: bool = False, auditor: bool = False) -> Connection:
        """The connection a console opens (a fixed profile name), as root or as the auditor."""
        return Connection(
            name="auditor" if auditor else "embedded",
            endpoint=self.server.endpoint,
            region="us-east-1",
            access_key=AUDITOR_ACCESS_KEY if auditor else self.server.access_key,
            secret_key=AUDITOR_SECRET_KEY if auditor else self.server.secret_key,
            read_only=read_only,
            timeout_seconds=10.0,
        )

    def app(self, *, read_only: bool = False, auditor: bool = False) -> KmsTuiApp:
        """A console whose every clock is fixed; status polls only when asked (`r`)."""
        settings = Settings(poll_interval_seconds=3600.0, keymap=MappingProxyType({}))
        return build_app(
            self.connection(read_only=read_only, auditor=auditor),
            settings,
            clock=self.clock,
            endpoint_label=ENDPOINT_LABEL,
            timer=StepTimer(),
        )


async def _seed(server: EmbeddedServer, clock: FrozenClock, key_dir: Path) -> None:
    async with KmsAdminClient(
        server.endpoint, server.access_key, server.secret_key, retries=0
    ) as admin:
        await admin.configure(
            LocalConfig(
                key_dir=str(key_dir), master_key=MASTER_KEY, allow_insecure_dev_defaults=True
            )
        )
        await admin.start()
        for key_id, description, tags, days_ago in SEED_KEYS:
            clock.now = FROZEN_NOW - timedelta(days=days_ago, hours=3)
            await admin.create_key(description=description, tags=tags, name=key_id)
        buckets = BucketEncryptionClient(
            server.endpoint, server.access_key, server.secret_key, region="us-east-1"
        )
        try:
            for index, (bucket, encryption) in enumerate(SEED_BUCKETS):
                clock.now = FROZEN_NOW - timedelta(days=30 - index)
                await buckets.create_bucket(bucket)
                if encryption == "AES256":
                    await buckets.put_bucket_encryption(bucket, algorithm="AES256")
                elif encryption is not None:
                    await buckets.put_bucket_encryption(
                        bucket, algorithm="aws:kms", kms_key_id=encryption
                    )
            for index, (bucket, object_key, size, object_kms_key) in enumerate(SEED_OBJECTS):
                clock.now = FROZEN_NOW - timedelta(days=20 - index, hours=index)
                await buckets.put_object(
                    bucket,
                    object_key,
                    b"." * size,
                    sse="aws:kms" if object_kms_key else None,
                    kms_key_id=object_kms_key,
                )
        finally:
            await buckets.aclose()
        clock.now = FROZEN_NOW - timedelta(days=1)
        await admin.disable_key(DISABLED_KEY)
        clock.now = FROZEN_NOW - timedelta(days=PENDING_SCHEDULED_DAYS_AGO)
        await admin.schedule_key_deletion(PENDING_KEY, pending_window_in_days=7)
    clock.now = FROZEN_NOW


# Paths appear on screen (key directory, config fingerprint, activity log file), so the world
# is reached through this fixed name, a symlink to the real temporary directory; a lock file
# keeps two runs on one machine (the tests and the screenshot script) from sharing it.
STABLE_ROOT = Path(tempfile.gettempdir()) / "kms-tui-demo"


@contextlib.contextmanager
def _stable_root(base: Path) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    lock_path = STABLE_ROOT.with_name(STABLE_ROOT.name + ".lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if STABLE_ROOT.is_symlink() or STABLE_ROOT.exists():
                STABLE_ROOT.unlink()
            STABLE_ROOT.symlink_to(base, target_is_directory=True)
            yield STABLE_ROOT
        finally:
            with contextlib.suppress(FileNotFoundError):
                STABLE_ROOT.unlink()
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def seeded_world(base: Path) -> Iterator[SeededWorld]:
    """Start and seed a server under ``base``; stop it (and restore clocks and env) after."""
    clock = FrozenClock(FROZEN_NOW)
    saved_bucket_clock = bucket_store_module.utc_now
    saved_object_clock = object_store_module.utc_now
    saved_state_home = os.environ.get("XDG_STATE_HOME")
    with _stable_root(base) as root:
        bucket_store_module.utc_now = clock  # bucket creation dates come from the frozen clock
        object_store_module.utc_now = clock  # and so do objects' last-modified dates
        os.environ["XDG_STATE_HOME"] = str(root / "state")  # the activity log's path is shown
        server = EmbeddedServer(
            root / "server",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            log_file=root / "server.log",
            clock=clock,
            users=(
                Account(
                    AUDITOR_ACCESS_KEY,
                    AUDITOR_SECRET_KEY,
                    CANNED_POLICIES["KMSAuditor"],
                    ("KMSAuditor",),
                ),
            ),
        )
        server.start()
        try:
            asyncio.run(_seed(server, clock, root / "keys"))
            yield SeededWorld(server, clock)
        finally:
            server.stop()
            bucket_store_module.utc_now = saved_bucket_clock
            object_store_module.utc_now = saved_object_clock
            if saved_state_home is None:
                os.environ.pop("XDG_STATE_HOME", None)
            else:
                os.environ["XDG_STATE_HOME"] = saved_state_home


# --- scenes -----------------------------------------------------------------------------------

RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    """One frame: its file name, what it shows, and the keys that lead to it."""

    name: str
    caption: str
    run_before: RunBefore
    read_only: bool = False
    auditor: bool = False  # signed in as an account with the KMSAuditor policy


async def settle(
    pilot: Pilot[Any], done: Callable[[], bool], what: str, *, limit: float = 30.0
) -> None:
    """Let the app run until ``done()`` holds (the frame's data is there), then until its
    pending messages and animations are through."""
    await wait_until(pilot, done, what, limit=limit)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def dialog(
    pilot: Pilot[Any], kind: type[Any], shows: Callable[[Any], bool], what: str
) -> None:
    """Wait for a ``kind`` dialog in front, mounted, showing what ``shows`` checks."""
    found = await screen_of(pilot, kind, what)
    await settle(pilot, lambda: shows(found), what)


def _app(pilot: Pilot[Any]) -> Any:
    return pilot.app


def _keys_loaded(pilot: Pilot[Any]) -> bool:
    app = _app(pilot)
    screen = app.mode_screens.get("keys")
    return (
        screen is not None
        and app.service_status is not None
        and not screen.listing
        and screen.loaded_count == len(SEED_KEYS)
    )


async def _keys_listed(pilot: Pilot[Any]) -> None:
    """Every seeded key listed, and the load finished: after the listing it describes the
    pending keys for their deletion dates (a request that shows on Keys and in the cache)."""
    await settle(pilot, lambda: _keys_loaded(pilot), "the keys listed")
    await wait_for_workers(_app(pilot), "keys.load")
    table = _app(pilot).mode_screens["keys"].key_table

    def dated() -> bool:
        row = table.row(PENDING_KEY)
        return row is not None and row.deletion_date is not None

    await settle(pilot, dated, "the pending key's deletion date")


async def _on_keys(pilot: Pilot[Any], highlight: str = "app-key") -> None:
    await _keys_listed(pilot)
    await _app(pilot).jump_to_key(highlight)
    await settle(pilot, lambda: _detail_shows(pilot, highlight), f"{highlight}'s details")


def _detail_shows(pilot: Pilot[Any], key_id: str) -> bool:
    from kms_tui.tui.widgets.key_detail import KeyDetail

    details = _app(pilot).screen.query(KeyDetail)
    if not details:
        return False
    description = details.first().description
    return description is not None and description.metadata.key_id == key_id


async def keys_screen(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot)


async def keys_filtered(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot)
    await pilot.press("slash", *"env=prod")
    await settle(pilot, lambda: _app(pilot).screen.key_table.visible_count == 1, "one key shown")


async def keys_marked(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot, "backup-key")
    await pilot.press("space", "down", "space")
    await settle(pilot, lambda: len(_app(pilot).screen.key_table.marked) == 2, "two keys marked")


async def create_key_dialog(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.create_key import CreateKeyDialog

    await _on_keys(pilot)
    await pilot.press("c")
    await screen_of(pilot, CreateKeyDialog, "the create-key form")
    await pilot.press(*"Customer uploads", "tab", *"team=web env=prod", "tab", *"uploads-key")
    await dialog(
        pilot,
        CreateKeyDialog,
        lambda form: form.value("name") == "uploads-key",
        "the create-key form filled in",
    )


async def schedule_deletion_dialog(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.schedule_deletion import ScheduleDeletionDialog

    await _on_keys(pilot, "backup-key")
    await pilot.press("d")
    await screen_of(pilot, ScheduleDeletionDialog, "the schedule-deletion form")
    await pilot.press(*"backup-key")
    await dialog(
        pilot,
        ScheduleDeletionDialog,
        lambda form: form.value("confirmation") == "backup-key",
        "the key id typed back",
    )


async def service_screen(pilot: Pilot[Any]) -> None:
    await _keys_listed(pilot)
    await pilot.press("1")
    await settle(pilot, lambda: _app(pilot).screen.config_info is not None, "the configuration")


async def configure_dialog(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.configure import ConfigureDialog

    await service_screen(pilot)
    await pilot.press("c")
    await dialog(
        pilot,
        ConfigureDialog,
        lambda form: form.backend == "Local" and bool(form.values().get("key_dir")),
        "the configure form with the running configuration",
    )


async def datakeys_screen(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot)
    await pilot.press("g")
    await settle(
        pilot,
        lambda: getattr(_app(pilot).screen, "key_id", None) == "app-key",
        "Data keys for app-key",
    )
    await pilot.click("#generate-context")
    await pilot.press(*"bucket=invoices")
    context = _app(pilot).screen.query_one("#generate-context")
    await settle(pilot, lambda: context.value == "bucket=invoices", "the context typed")


def _buckets_loaded(pilot: Pilot[Any]) -> bool:
    screen = _app(pilot).mode_screens.get("buckets")
    return screen is not None and screen.loaded and len(screen.rows) == len(SEED_BUCKETS)


async def buckets_screen(pilot: Pilot[Any]) -> None:
    await _keys_listed(pilot)
    await pilot.press("4")
    await settle(pilot, lambda: _buckets_loaded(pilot), "the buckets listed")


async def bucket_encryption_dialog(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.bucket_encryption import BucketEncryptionDialog

    await buckets_screen(pilot)
    await pilot.press("down", "e")
    await dialog(
        pilot,
        BucketEncryptionDialog,
        lambda form: form.bucket == "invoices" and form.kms_key_id == "app-key",
        "the encryption of invoices",
    )


async def key_picker_dialog(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.key_picker import KeyPickerDialog

    await bucket_encryption_dialog(pilot)
    await pilot.press("k")
    await dialog(pilot, KeyPickerDialog, lambda picker: not picker.keys_loading, "every key")


async def objects_screen(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.screens.objects import ObjectsScreen

    await buckets_screen(pilot)
    await pilot.press("down", "enter")  # invoices
    screen = await screen_of(pilot, ObjectsScreen, "the objects of invoices")
    await settle(
        pilot,
        lambda: not screen.listing and screen.key_states is not None,
        "every object listed and HEADed",
    )
    screen.table.move_to("exports/q4-analytics.csv")
    await settle(
        pilot,
        lambda: "q4-analytics" in str(screen.query_one("#objects-detail").render()),
        "the marked object's details",
    )


async def impact_scan(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.impact import ImpactDialog

    await _on_keys(pilot, PENDING_KEY)
    await pilot.press("i")
    found = await screen_of(pilot, ImpactDialog, "the impact dialog")
    await settle(pilot, lambda: found.bucket_names is not None, "the bucket defaults")
    await pilot.press("s")
    await settle(
        pilot,
        lambda: found.latest is not None and not found.scanning,
        "the object scan's result",
    )


async def encryption_check(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.dialogs.check import CheckResultsDialog

    await buckets_screen(pilot)
    await pilot.press("down", "v")  # invoices
    await dialog(pilot, CheckResultsDialog, lambda found: bool(found.outcomes), "the verdict")
    _app(pilot).clear_notifications()
    await settle(pilot, lambda: not _app(pilot)._notifications, "no toast over the verdict")


async def stats_screen(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    await _keys_listed(pilot)
    # The highlighted key's details are described after a short delay; that describe counts
    # in the cache, so it must be done before the first round is drawn (else the charts vary).
    keys = app.mode_screens["keys"]
    highlighted = keys.key_table.highlighted
    assert highlighted is not None
    await settle(pilot, lambda: _detail_shows(pilot, highlighted.key_id), "the first details")
    # Opening the screen draws the poller's newest round: not the start-up one, which raced
    # the listing and its describes, but one that started after all of them. The latency
    # steps start again here, so they do not depend on the rounds the start-up made.
    await next_poll(app, pilot)
    timer = app.context.timer
    assert isinstance(timer, StepTimer)
    timer.restart()
    await next_poll(app, pilot)
    await pilot.press("5")
    screen = app.mode_screens["stats"]
    await settle(pilot, lambda: screen.last_status is not None, "a drawn status round")
    admin = await app.context.admin()
    latency = screen.query_one("#metric-latency")
    for round_ in range(5):
        for key_id, *_ in SEED_KEYS[: 2 + round_]:
            await admin.describe_key(key_id)
        # One poll round at a time, each finished before the next describes (what `r` asks
        # for, without depending on when the poller's task runs): exactly six rounds drawn.
        points = len(latency.history)
        await next_poll(app, pilot)
        await settle(pilot, lambda points=points: len(latency.history) == points + 1, "the round")


async def help_screen(pilot: Pilot[Any]) -> None:
    from kms_tui.tui.screens.help import HelpScreen

    await _on_keys(pilot)
    await pilot.press("question_mark")
    await dialog(pilot, HelpScreen, lambda help_: bool(help_.rows), "the bindings")


async def activity_screen(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot)
    app = _app(pilot)
    from kms_tui.tui.screens.activity import ActivityScreen

    await pilot.press("e")  # disable app-key, confirmed: one change in the log
    await settle(pilot, lambda: bool(app.screen.query("#confirm")), "the confirmation")
    await pilot.click("#confirm")
    await settle(
        pilot,
        lambda: any(e.action == "disable key" for e in app.context.activity.entries),
        "the change in the log",
    )
    app.clear_notifications()
    await pilot.press("a")
    entries = len(app.context.activity.entries)
    await dialog(
        pilot,
        ActivityScreen,
        lambda log: log.query_one("#activity-table").row_count == entries,
        "every entry listed",
    )


async def read_only_keys(pilot: Pilot[Any]) -> None:
    await _on_keys(pilot)


async def auditor_keys(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    screen = app.mode_screens.get("keys")

    def listed_and_judged() -> bool:
        return (
            screen is not None
            and not screen.listing
            and screen.loaded_count == len(SEED_KEYS)
            and app.context.permissions.checked
            and app.poll_refused
        )

    await settle(pilot, listed_and_judged, "the keys listed and the account's policy read")
    await app.jump_to_key("app-key")
    await settle(pilot, lambda: _detail_shows(pilot, "app-key"), "app-key's details")
    app.clear_notifications()  # the one-time "status denied" toast would time out mid-frame
    await pilot.pause()


SCENES: tuple[Scene, ...] = (
    Scene("keys", "Keys: every key, its state and deletion countdown, details", keys_screen),
    Scene("keys-filter", "Keys filtered with `/` by a tag", keys_filtered),
    Scene("keys-marked", "Two keys marked with `space` for a bulk action", keys_marked),
    Scene("create-key", "Create a key (`c`)", create_key_dialog),
    Scene(
        "schedule-deletion", "Schedule deletion (`d`), typed confirmation", schedule_deletion_dialog
    ),
    Scene("service", "Service: state, backend, health, configuration", service_screen),
    Scene("configure", "Configure a backend (`c` on Service)", configure_dialog),
    Scene("datakeys", "Data keys: generate for a key (`g` from Keys)", datakeys_screen),
    Scene("buckets", "Buckets and their default encryption", buckets_screen),
    Scene("bucket-encryption", "Set a bucket's encryption (`e`)", bucket_encryption_dialog),
    Scene("key-picker", "The key picker over every key (`k`)", key_picker_dialog),
    Scene("objects", "A bucket's objects (`enter`), unusable keys marked", objects_screen),
    Scene("impact-scan", "Impact of a key (`i`): bucket defaults and the object scan", impact_scan),
    Scene("encryption-check", "Check a bucket's encryption (`v`)", encryption_check),
    Scene("stats", "Live stats: cache counters and their history", stats_screen),
    Scene("help", "Help (`?`): every binding of the screen", help_screen),
    Scene("activity", "The activity log (`a`)", activity_screen),
    Scene("read-only", "A read-only session", read_only_keys, read_only=True),
    Scene(
        "keys-auditor",
        "Keys under an auditor account: every change greyed, status denied",
        auditor_keys,
        auditor=True,
    ),
)
