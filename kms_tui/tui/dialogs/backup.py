"""The Service screen's dialogs: the health checklist, and backup and restore of the KMS.

The checklist is :func:`kms_tui.api.doctor.checks` (the one ``kms-tui doctor`` prints), one line
per check with its fix. Backup asks for the file to write; restore asks for the bundle, shows
what it holds, and wants the backup id typed back before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kms_tui.api.backup_files import Bundle, BundleError, read_bundle
from kms_tui.api.doctor import Check
from kms_tui.tui.dialogs.confirm import FormDialog
from kms_tui.tui.styles import style_path

__all__ = [
    "BackupPathDialog",
    "ChecklistDialog",
    "RestoreConfirmDialog",
    "RestorePathDialog",
    "bundle_lines",
    "checklist_lines",
]

_MARKS = {"ok": "ok  ", "warning": "warn", "failed": "FAIL", "skipped": "skip"}


def checklist_lines(results: Sequence[Check]) -> list[str]:
    """One line per check (and its fix under a failure or warning), as ``doctor`` prints it."""
    lines: list[str] = []
    for check in results:
        lines.append(f"{_MARKS.get(check.outcome, check.outcome)}  {check.title}: {check.detail}")
        if check.fix and check.outcome in ("failed", "warning"):
            lines.append(f"      fix: {check.fix}")
    return lines


class ChecklistDialog(ModalScreen[None]):
    """The health checklist's results."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="dialog.close"),
    ]

    def __init__(self, server: str, results: Sequence[Check]) -> None:
        super().__init__(classes="kms-dialog")
        self.server = server
        self.results = tuple(results)
        self.lines = checklist_lines(self.results)

    @property
    def summary(self) -> str:
        """``7 ok, 1 failed, 1 skipped`` (outcomes in checklist order)."""
        counts: dict[str, int] = {}
        for check in self.results:
            counts[check.outcome] = counts.get(check.outcome, 0) + 1
        return ", ".join(f"{n} {outcome}" for outcome, n in counts.items())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(f"Health check of {self.server}", classes="dialog-title", markup=False)
            yield Static(self.summary, id="summary", classes="dialog-body", markup=False)
            with VerticalScroll(classes="results-list"):
                for line in self.lines:
                    failed = line.startswith(("FAIL", "      fix"))
                    yield Static(
                        line, classes="result-failed" if failed else "result-ok", markup=False
                    )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        """Done reading."""
        self.dismiss(None)


class BackupPathDialog(FormDialog[Path]):
    """Where to write the backup (0600); an existing file is confirmed separately."""

    title_text = "Back up the KMS keys"
    submit_label = "Back up"

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose_fields(self) -> ComposeResult:
        yield Static(
            "The server writes a bundle of every key, sealed under its backup KEK; a copy is "
            "written here, readable by you only (0600).",
            classes="dialog-body",
            markup=False,
        )
        yield from self.field("File to write", "backup-path", str(self.default))

    def collect(self) -> Path | None:
        text = self.value("backup-path").strip()
        problem = None
        target = Path(text).expanduser() if text else None
        if target is None:
            problem = "name the file to write"
        elif target.is_dir():
            problem = f"{target} is a directory; name the file to write"
        self.set_field_error("backup-path", problem)
        return None if problem else target


class RestorePathDialog(FormDialog[Bundle]):
    """The bundle to restore from: read and checked before the form closes."""

    title_text = "Restore the KMS keys from a backup"
    submit_label = "Read bundle"

    def __init__(self, default: str = "") -> None:
        super().__init__()
        self.default = default

    def compose_fields(self) -> ComposeResult:
        yield from self.field("Backup file", "restore-path", self.default)

    def collect(self) -> Bundle | None:
        text = self.value("restore-path").strip()
        if not text:
            self.set_field_error("restore-path", "name the backup file")
            return None
        try:
            bundle = read_bundle(Path(text).expanduser())
        except BundleError as err:
            self.set_field_error("restore-path", err.message)
            return None
        self.set_field_error("restore-path", None)
        return bundle


def bundle_lines(bundle: Bundle, states: str) -> list[str]:
    """What the bundle holds, without a secret."""
    summary = bundle.summary()
    return [
        f"backup id: {bundle.backup_id}",
        f"created: {summary['created_at'] or 'unknown'}",
        f"source: {bundle.deployment_identity or 'unknown'} "
        f"({bundle.backend or 'backend unknown'})",
        f"keys: {len(bundle.key_ids)} ({', '.join(bundle.key_ids) or 'none'})",
        f"states: {states}",
    ]


class RestoreConfirmDialog(FormDialog[str]):
    """The bundle's summary, then the backup id typed back (anything else restores nothing)."""

    title_text = "Restore this backup?"
    submit_label = "Restore"
    submit_variant = "error"

    def __init__(self, bundle: Bundle, states: str, *, stops_service: bool) -> None:
        super().__init__()
        self.bundle = bundle
        self.lines = bundle_lines(bundle, states)
        self.stops_service = stops_service

    def compose_fields(self) -> ComposeResult:
        yield Static(
            "\n".join(self.lines), id="bundle-summary", classes="dialog-body", markup=False
        )
        if self.stops_service:
            yield Static(
                "Restoring stops the KMS service (every encrypt and decrypt fails meanwhile), "
                "writes the keys, and starts it again.",
                classes="dialog-body",
                markup=False,
            )
        yield from self.field(
            f"Type the backup id ({self.bundle.backup_id}) to confirm", "restore-confirm"
        )

    def collect(self) -> str | None:
        typed = self.value("restore-confirm").strip()
        if typed != self.bundle.backup_id:
            self.set_field_error(
                "restore-confirm", f"type {self.bundle.backup_id} exactly to restore"
            )
            return None
        self.set_field_error("restore-confirm", None)
        return typed
