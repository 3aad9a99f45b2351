"""Where a command's words go: data on stdout, messages and progress on stderr.

- ``--json``: one JSON document on stdout (:meth:`Output.document`); ``--ndjson``: one JSON
  object per line (:meth:`Output.record`), flushed as it is written.
- Otherwise text for people: on a terminal through rich (imported on first use), anything else
  plain text with no colour and no escape code.
- Progress goes to stderr and only when stderr is a terminal; it is one line rewritten in place.
- Errors: the JSON error document on stdout in JSON modes, and always one plain line on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from kms_tui.commands.errors import error_fields, one_line

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "Style"]

PROGRAM = "kms-tui"


class Style:
    """The few styles the human output uses (rich style names)."""

    GOOD = "green"
    BAD = "bold red"
    WARN = "yellow"
    DIM = "dim"
    HEADER = "bold"


_STATE_STYLES = {
    "Enabled": Style.GOOD,
    "Running": Style.GOOD,
    "ok": Style.GOOD,
    "Disabled": Style.WARN,
    "PendingDeletion": Style.BAD,
    "Unreadable": Style.BAD,
    "failed": Style.BAD,
    "warning": Style.WARN,
    "skipped": Style.DIM,
}


class Output:
    """One command's output channels and modes."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        ndjson: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.ndjson = ndjson
        self.json = json_mode or ndjson
        self.stdout_tty = _isatty(self.stdout)
        self.stderr_tty = _isatty(self.stderr)
        self._console: Console | None = None
        self._progress_shown = False

    # --- machines ----------------------------------------------------------------------------

    def document(self, doc: Any) -> None:
        """One JSON document on stdout."""
        self.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")

    def record(self, doc: Any) -> None:
        """One compact JSON line on stdout (``--ndjson``)."""
        self.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")

    def write(self, text: str) -> None:
        """Raw text on stdout, flushed (a pipe reader sees each piece as it is written)."""
        self.clear_progress()
        self.stdout.write(text)
        self.stdout.flush()

    # --- people ------------------------------------------------------------------------------

    @property
    def console(self) -> Console:
        """rich on the terminal (only ever built when stdout is one)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stdout, highlight=False, soft_wrap=True)
        return self._console

    def line(self, *parts: str | tuple[str, str | None]) -> None:
        """One line of text; a ``(text, style)`` part is styled on a terminal only."""
        self.clear_progress()
        if not self.stdout_tty:
            self.write("".join(p if isinstance(p, str) else p[0] for p in parts) + "\n")
            return
        from rich.text import Text

        text = Text()
        for part in parts:
            if isinstance(part, str):
                text.append(part)
            else:
                text.append(part[0], style=part[1] or "")
        self.console.print(text)
        self.stdout.flush()

    def state(self, word: str) -> tuple[str, str | None]:
        """A state word (padding allowed) with its colour (on a terminal)."""
        return word, _STATE_STYLES.get(word.strip())

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """``label  value`` lines, the labels aligned."""
        items = [(label, _text(value)) for label, value in pairs]
        width = max((len(label) for label, _ in items), default=0)
        for label, value in items:
            self.line((f"{label:<{width}}  ", Style.DIM), self.state(value))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table: rich on a terminal, aligned plain columns otherwise."""
        cells = [[_text(value) for value in row] for row in rows]
        if self.stdout_tty:
            from rich.table import Table

            table = Table(box=None, pad_edge=False, header_style=Style.HEADER)
            for header in headers:
                table.add_column(header, overflow="fold")
            for row in cells:
                table.add_row(*(_rich_cell(value) for value in row))
            self.clear_progress()
            self.console.print(table)
            self.stdout.flush()
            return
        widths = [len(h) for h in headers]
        for row in cells:
            for index, value in enumerate(row):
                widths[index] = max(widths[index], len(value))
        self.write(_plain_row(headers, widths))
        for row in cells:
            self.write(_plain_row(row, widths))

    # --- stderr ------------------------------------------------------------------------------

    def message(self, text: str) -> None:
        """One plain line on stderr, prefixed with the program name."""
        self.clear_progress()
        self.stderr.write(f"{PROGRAM}: {text}\n")
        self.stderr.flush()

    def progress(self, text: str) -> None:
        """Rewrite the progress line on stderr; nothing unless stderr is a terminal."""
        if not self.stderr_tty:
            return
        self.stderr.write("\r\x1b[2K" + text[:200])
        self.stderr.flush()
        self._progress_shown = True

    def clear_progress(self) -> None:
        """Remove the progress line before anything else is written."""
        if self._progress_shown:
            self._progress_shown = False
            self.stderr.write("\r\x1b[2K")
            self.stderr.flush()

    def error(self, err: BaseException) -> None:
        """The JSON error document on stdout (JSON modes) and one plain line on stderr."""
        if self.json:
            fields = error_fields(err)
            extra = getattr(err, "document", None)
            doc = {"error": fields, **(extra if isinstance(extra, dict) else {})}
            if self.ndjson:
                self.record(doc)
            else:
                self.document(doc)
        self.message(one_line(err))


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _rich_cell(value: str) -> Any:
    from rich.text import Text

    return Text(value, style=_STATE_STYLES.get(value, ""))


def _plain_row(values: Sequence[str], widths: Sequence[int]) -> str:
    padded = [value.ljust(width) for value, width in zip(values, widths, strict=True)]
    return "  ".join(padded).rstrip() + "\n"
