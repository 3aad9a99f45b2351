"""The encryption check's answer (`v` on Buckets): one verdict per bucket, in plain words, with
every step the probe took and, for a failure, what the key states say about it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kms_tui.api.verify import CheckResult, Verdict
from kms_tui.tui.formatting import format_date
from kms_tui.tui.styles import style_path

__all__ = ["CheckOutcome", "CheckResultsDialog", "verdict_words"]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One bucket's check and, when it failed, why its default's key cannot serve it."""

    result: CheckResult
    key_note: str | None = None  # e.g. "the default's key beta-key is disabled"

    @property
    def ok(self) -> bool:
        """Encrypted with the key the bucket's default names."""
        return self.result.ok

    @property
    def message(self) -> str:
        """The verdict and what it rests on, as the activity log keeps it."""
        text = verdict_words(self.result)
        if self.result.verdict is not Verdict.FAILED and self.result.detail:
            text += f" — {self.result.detail}"
        if self.key_note:
            text += f"; {self.key_note}"
        return text


def verdict_words(result: CheckResult) -> str:
    """The verdict as a person would say it (a failure says the server's message)."""
    if result.verdict is Verdict.FAILED:
        return f"failed: {result.detail}" if result.detail else "failed"
    return result.verdict.value


def outcome_text(outcome: CheckOutcome) -> str:
    """One bucket's block: verdict, detail, note, steps, request id, when."""
    result = outcome.result
    mark = "✓" if outcome.ok else "✗"
    lines = [f"{mark} {result.bucket}: {verdict_words(result)}"]
    if result.verdict is not Verdict.FAILED and result.detail:
        lines.append(f"  {result.detail}")
    if outcome.key_note:
        lines.append(f"  ⚠ {outcome.key_note}")
    lines.extend(f"  · {step}" for step in result.steps)
    if result.request_id:
        lines.append(f"  request id {result.request_id}")
    lines.append(f"  checked {format_date(result.checked_at)} UTC")
    return "\n".join(lines)


def summary_text(outcomes: Sequence[CheckOutcome]) -> str:
    """``2 encrypted with the expected key, 1 failed``."""
    counts = Counter(outcome.result.verdict for outcome in outcomes)
    return ", ".join(f"{counts[verdict]} {verdict.value}" for verdict in Verdict if counts[verdict])


class CheckResultsDialog(ModalScreen[None]):
    """Every checked bucket with its verdict and the steps behind it."""

    CSS_PATH = [style_path("dialogs.tcss"), style_path("check.tcss")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="check.close"),
    ]

    def __init__(self, outcomes: Sequence[CheckOutcome]) -> None:
        super().__init__(classes="kms-dialog")
        if not outcomes:
            raise ValueError("CheckResultsDialog needs at least one outcome")
        self.outcomes = tuple(outcomes)

    @property
    def title_text(self) -> str:
        """``Encryption check of invoices`` or ``Encryption check: 4 buckets``."""
        if len(self.outcomes) == 1:
            return f"Encryption check of {self.outcomes[0].result.bucket}"
        return f"Encryption check: {len(self.outcomes)} buckets"

    @property
    def summary(self) -> str:
        """How many buckets got each verdict."""
        return summary_text(self.outcomes)

    def body_text(self) -> str:
        """Every bucket's block as plain lines (tests read it)."""
        return "\n\n".join(outcome_text(outcome) for outcome in self.outcomes)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box check-box"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.summary, id="check-summary", classes="dialog-body", markup=False)
            with VerticalScroll(classes="results-list"):
                for outcome in self.outcomes:
                    yield Static(
                        outcome_text(outcome),
                        classes="check-outcome " + ("result-ok" if outcome.ok else "result-failed"),
                        markup=False,
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
