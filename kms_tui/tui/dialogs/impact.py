"""Impact of deleting keys (`i` on Keys, `ctrl+o` in the deletion dialog): buckets, then objects.

First what is cheap: the server's own impact report and every bucket whose default encryption
names the key. Then, on `s`, the object scan (:class:`kms_tui.api.impact.ImpactScan`) over every
bucket or the chosen ones, as a worker of this dialog: it pages through each listing and HEADs
every object, 32 at a time, all on the event loop's async I/O, and posts progress at most four
times a second, so the console stays responsive. `esc` stops it and keeps what was found,
labelled partial. The dialog returns the newest result so the Keys screen can keep it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, SelectionList, Static
from textual.worker import Worker, WorkerState

from kms_tui.api.errors import KmsError
from kms_tui.api.impact import (
    DEFAULT_PROGRESS_SECONDS,
    ImpactScan,
    ScanProgress,
    default_names_key,
    run_in_own_thread,
)
from kms_tui.tui.context import AppContext
from kms_tui.tui.error_text import error_text
from kms_tui.tui.formatting import format_date
from kms_tui.tui.impact_results import ScanRecord
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.key_detail import impact_lines

if TYPE_CHECKING:
    from kms_tui.tui.app import KmsTuiApp

__all__ = ["ImpactDialog", "progress_text", "result_text"]

SCAN_CONCURRENCY = 32
_READ_CONCURRENCY = 8
_BUCKETS_SHOWN = 8


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(progress: ScanProgress) -> str:
    """``1,234 of 5,000 objects scanned · 7 buckets listed · 410/s · about 9 s left``."""
    if progress.listing_done:
        parts = [
            f"{progress.scanned:,} of {progress.listed:,} objects scanned",
            f"{_plural(progress.buckets_total, 'bucket')} listed",
        ]
    else:
        bucket = min(progress.buckets_done + 1, progress.buckets_total)
        parts = [
            f"{progress.scanned:,} objects scanned of {progress.listed:,} listed so far",
            f"listing bucket {bucket} of {progress.buckets_total}",
        ]
    parts.append(f"{progress.rate:,.0f}/s")
    left = progress.seconds_left
    parts.append(f"about {_duration(left)} left" if left is not None else "time left: listing…")
    if progress.errors:
        parts.append(f"{progress.errors:,} unreadable")
    return " · ".join(parts)


def result_text(record: ScanRecord) -> str:
    """The scan's outcome for every key it covered, and when it was taken."""
    result = record.result
    moment = format_date(result.finished_at or result.started_at)
    scope = "" if record.every_bucket else " (chosen buckets only)"
    if record.partial:
        head = (
            f"PARTIAL scan{scope}, stopped {moment} UTC after {result.scanned:,} of "
            f"{result.listed:,} listed objects: the counts are a lower bound"
        )
    else:
        head = (
            f"Scan{scope} taken {moment} UTC: {result.scanned:,} objects in "
            f"{_plural(len(result.buckets), 'bucket')} read"
        )
    lines = [head]
    for impact in result.impacts.values():
        lines.append("")
        lines.append(f"{impact.key_id}: {impact.summary(partial=record.partial)}")
        counts: dict[str, int] = {}
        for hit in impact.objects:
            counts[hit.bucket] = counts.get(hit.bucket, 0) + 1
        for bucket, count in list(counts.items())[:_BUCKETS_SHOWN]:
            lines.append(f"  {bucket}: {_plural(count, 'object')}")
        if len(counts) > _BUCKETS_SHOWN:
            lines.append(f"  … and {_plural(len(counts) - _BUCKETS_SHOWN, 'more bucket')}")
        if impact.bucket_defaults:
            names = ", ".join(
                f"{default.bucket} (SSE-S3)" if default.via_default_key else default.bucket
                for default in impact.bucket_defaults
            )
            lines.append(f"  default encryption of: {names}")
    if result.errors:
        lines.append("")
        lines.append(f"{_plural(len(result.errors), 'read error')} (first: {result.errors[0]})")
    return "\n".join(lines)


class ImpactDialog(ModalScreen[ScanRecord | None]):
    """What deleting ``key_ids`` would take with it; returns the newest scan (or the one given)."""

    CSS_PATH = [style_path("dialogs.tcss"), style_path("impact.tcss")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "scan", "Scan objects", id="impact.scan"),
        Binding("escape", "stop_or_close", "Stop scan / close", id="impact.close"),
    ]
    progress_every: ClassVar[float] = DEFAULT_PROGRESS_SECONDS  # seconds between progress posts

    class ScanProgressed(Message):
        """The running scan moved on (posted at most every quarter second)."""

        def __init__(self, progress: ScanProgress) -> None:
            super().__init__()
            self.progress = progress

    def __init__(
        self,
        key_ids: Sequence[str],
        context: AppContext,
        *,
        default_key_id: str | None,
        previous: ScanRecord | None = None,
        start_scan: bool = False,
        concurrency: int = SCAN_CONCURRENCY,
    ) -> None:
        super().__init__(classes="kms-dialog")
        if not key_ids:
            raise ValueError("ImpactDialog needs at least one key")
        self.key_ids = tuple(key_ids)
        self.context = context
        self.default_key_id = default_key_id
        self.latest = previous
        self.start_scan = start_scan
        self.concurrency = concurrency
        self.bucket_names: tuple[str, ...] | None = None  # None until listed
        self.scanning = False
        self.last_progress: ScanProgress | None = None
        self._scan_worker: Worker[None] | None = None
        self._close_after_stop = False

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = (
            f"Impact of {self.key_ids[0]}"
            if len(self.key_ids) == 1
            else f"Impact of {len(self.key_ids)} keys"
        )
        with Vertical(classes="dialog-box impact-box"):
            yield Label(title, classes="dialog-title", markup=False)
            with VerticalScroll(id="impact-scroll"):
                if len(self.key_ids) == 1:
                    yield Static(
                        "asking the server for its impact report…",
                        id="impact-report",
                        classes="impact-part",
                        markup=False,
                    )
                yield Static(
                    "reading every bucket's default encryption…",
                    id="impact-defaults",
                    classes="impact-part",
                    markup=False,
                )
                yield Static(self._default_key_note(), id="impact-note", markup=False)
                yield Label("Buckets to scan (space toggles):", classes="field-label")
                yield SelectionList[str](id="impact-buckets", compact=True)
                yield ProgressBar(id="impact-progress", show_eta=False)
                yield Static("", id="impact-progress-text", markup=False)
                yield Static(
                    "objects not scanned yet: press s to scan",
                    id="impact-result",
                    markup=False,
                )
            with Horizontal(classes="dialog-buttons"):
                yield Static("s scan · esc stop / close", id="impact-keys")
                yield Button("Scan objects", id="scan", variant="primary")
                yield Button("Close", id="close")

    def _default_key_note(self) -> str:
        default = self.default_key_id
        if default is None:
            return (
                "SSE-S3 objects are counted against the KMS default key; none is configured, "
                "so they are not counted."
            )
        note = f"SSE-S3 objects are counted against the KMS default key ({default}), which "
        note += "wraps their data keys."
        if default in self.key_ids:
            note += f" {default} is that default key: its SSE-S3 objects are counted too."
        return note

    def on_mount(self) -> None:
        self.query_one("#impact-progress", ProgressBar).display = False
        if self.latest is not None:
            self._show_record(self.latest, earlier=True)
        self.query_one("#impact-buckets", SelectionList).focus()
        if len(self.key_ids) == 1:
            self._load_report()
        self._load_defaults()

    # --- what is cheap first ---------------------------------------------------------------

    @work(group="impact.report", exit_on_error=False)
    async def _load_report(self) -> None:
        report = self.query_one("#impact-report", Static)
        try:
            admin = await self.context.admin()
            description = await admin.describe_key(self.key_ids[0], impact=True)
        except KmsError as err:
            report.update(f"the server's impact report could not be read: {error_text(err)}")
            return
        if description.impact is None:
            report.update("The server sent no impact report.")
        else:
            report.update("The server's report:\n" + "\n".join(impact_lines(description.impact)))

    @work(group="impact.defaults", exit_on_error=False)
    async def _load_defaults(self) -> None:
        shown = self.query_one("#impact-defaults", Static)
        try:
            client = await self.context.buckets()
            buckets = [bucket.name for bucket in await client.list_buckets()]
            gate = asyncio.Semaphore(_READ_CONCURRENCY)

            async def read(name: str) -> tuple[str, str | None, str | None]:
                async with gate:
                    try:
                        encryption = await client.get_bucket_encryption(name)
                    except KmsError:
                        return name, None, None  # the scan reports unreadable defaults
                if encryption is None:
                    return name, None, None
                return name, encryption.algorithm, encryption.kms_key_id

            readings = await asyncio.gather(*(read(name) for name in buckets))
        except KmsError as err:
            shown.update(f"the buckets could not be listed: {error_text(err)}")
            if self.start_scan:
                self.action_scan()
            return
        self.bucket_names = tuple(buckets)
        choices = self.query_one("#impact-buckets", SelectionList)
        choices.clear_options()
        choices.add_options([(name, name, True) for name in buckets])
        shown.update(self._defaults_text(readings))
        if self.start_scan:
            self.action_scan()

    def _defaults_text(self, readings: Sequence[tuple[str, str | None, str | None]]) -> str:
        lines: list[str] = []
        for key_id in self.key_ids:
            naming = []
            for bucket, algorithm, kms_key_id in readings:
                if algorithm is None:
                    continue
                uses, via_default = default_names_key(
                    algorithm, kms_key_id, key_id, self.default_key_id
                )
                if uses:
                    naming.append(f"{bucket} (SSE-S3, the default key)" if via_default else bucket)
            who = key_id if len(self.key_ids) > 1 else "this key"
            if naming:
                lines.append(
                    f"{_plural(len(naming), 'bucket')} of {len(readings):,} encrypt new "
                    f"objects with {who} by default: " + ", ".join(naming)
                )
            else:
                lines.append(
                    f"No bucket of {len(readings):,} names {who} as its default encryption."
                )
        return "\n".join(lines)

    # --- the scan --------------------------------------------------------------------------

    def action_scan(self) -> None:
        """`s`: scan the chosen buckets' objects (again, if a scan was taken)."""
        if self.scanning:
            return
        buckets: tuple[str, ...] | None = None
        every_bucket = True
        if self.bucket_names is not None:
            chosen = set(self.query_one("#impact-buckets", SelectionList).selected)
            buckets = tuple(name for name in self.bucket_names if name in chosen)
            every_bucket = len(buckets) == len(self.bucket_names)
            if not buckets and self.bucket_names:
                self.notify("choose at least one bucket to scan", severity="warning")
                return
        self.scanning = True
        self._scan_worker = self._run_scan(buckets, every_bucket)

    @work(exclusive=True, group="impact.scan", exit_on_error=False)
    async def _run_scan(self, buckets: tuple[str, ...] | None, every_bucket: bool) -> None:
        bar = self.query_one("#impact-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#impact-result", Static).update("scanning… (esc stops and keeps it)")
        self.query_one("#scan", Button).disabled = True
        try:
            client = await self.context.buckets()
        except KmsError as err:
            self.scanning = False
            self.query_one("#scan", Button).disabled = False
            self.query_one("#impact-result", Static).update(
                f"the scan could not start: {error_text(err)}"
            )
            return
        twin = client.twin()
        scan = ImpactScan(
            twin,
            self.key_ids,
            default_key_id=self.default_key_id,
            buckets=buckets,
            concurrency=self.concurrency,
            on_progress=self._progressed,
            progress_every=self.progress_every,
            clock=self.context.clock,
        )
        try:
            # On a loop of its own, so this screen's keystrokes never wait behind HEAD answers.
            result = await run_in_own_thread(scan, twin.aclose)
        except asyncio.CancelledError:
            self._finished(ScanRecord(scan.result, every_bucket), scan.progress())
            raise
        except KmsError as err:  # the buckets could not even be listed
            self._scan_failed(f"the scan failed: {error_text(err)}")
            return
        self._finished(ScanRecord(result, every_bucket), scan.progress())

    def _scan_failed(self, message: str) -> None:
        self.scanning = False
        self.query_one("#impact-progress", ProgressBar).display = False
        self.query_one("#scan", Button).disabled = False
        self.query_one("#impact-result", Static).update(message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The unexpected goes to the app's one funnel; a failed scan can be run again."""
        if event.state is not WorkerState.ERROR:
            return
        if event.worker is self._scan_worker:
            self._scan_failed("the scan stopped on an unexpected error (see the activity log)")
        cast("KmsTuiApp", self.app).worker_failed(event.worker)

    def _progressed(self, progress: ScanProgress) -> None:
        """Called by the scan (at most every quarter second): hand it to the message queue."""
        self.post_message(self.ScanProgressed(progress))

    def on_impact_dialog_scan_progressed(self, message: ImpactDialog.ScanProgressed) -> None:
        if self.scanning:
            self._show_progress(message.progress)

    def _show_progress(self, progress: ScanProgress) -> None:
        self.last_progress = progress
        bar = self.query_one("#impact-progress", ProgressBar)
        # The total grows as pages arrive; until anything is listed the bar has none.
        known = progress.listing_done or progress.listed > 0
        bar.update(total=progress.listed if known else None, progress=progress.scanned)
        self.query_one("#impact-progress-text", Static).update(progress_text(progress))

    def _finished(self, record: ScanRecord, progress: ScanProgress) -> None:
        self.scanning = False
        self.latest = record
        if not self.is_attached:
            return
        self.last_progress = progress
        bar = self.query_one("#impact-progress", ProgressBar)
        bar.update(total=record.result.listed, progress=record.result.scanned)
        self.query_one("#impact-progress-text", Static).update(
            f"{record.result.scanned:,} of {record.result.listed:,} listed objects read"
            + (" — stopped" if record.partial else "")
        )
        self.query_one("#scan", Button).disabled = False
        self._show_record(record, earlier=False)
        self.query_one("#impact-scroll", VerticalScroll).scroll_end(animate=False)
        if self._close_after_stop:
            self.dismiss(self.latest)

    def _show_record(self, record: ScanRecord, *, earlier: bool) -> None:
        text = result_text(record)
        if earlier:
            text = "The last scan this session (s scans again):\n" + text
        self.query_one("#impact-result", Static).update(text)

    @property
    def result_shown(self) -> str:
        """The result area as shown (tests read it)."""
        return str(self.query_one("#impact-result", Static).content)

    # --- stop and close --------------------------------------------------------------------

    def _stop(self) -> None:
        if self._scan_worker is not None and self._scan_worker.is_running:
            self._scan_worker.cancel()

    def action_stop_or_close(self) -> None:
        """`esc`: stop a running scan (keeping the partial result), else close."""
        if self.scanning:
            self._stop()
            return
        self.dismiss(self.latest)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "scan":
            self.action_scan()
        elif self.scanning:
            self._close_after_stop = True
            self._stop()
        else:
            self.dismiss(self.latest)
