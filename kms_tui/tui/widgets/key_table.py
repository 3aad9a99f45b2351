"""A virtual table of every key: only the rows on screen are drawn, so 100,000 keys stay fluid.

All rows live in memory; filtering and sorting are plain Python over precomputed text, and
batches streamed from the listing are merged without re-rendering anything off screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kms_tui.api.models import KeyInfo, KeyMetadata
from kms_tui.api.wire import KeyState
from kms_tui.tui.formatting import format_countdown, format_date, format_tags
from kms_tui.tui.key_usability import UNREADABLE, ShownState, key_state_of, unusable_reason

__all__ = ["COLUMNS", "KeyRow", "KeyTable"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class KeyRow:
    """What the table knows about one key, with the lower-cased text the filter searches.

    Rows compare by identity: the table finds a row's position with ``list.index``, which
    then runs at C speed instead of comparing every field of 100,000 rows.
    """

    key_id: str
    description: str
    state: ShownState
    created: datetime | None
    deletion_date: datetime | None
    tags: Mapping[str, str]
    tags_text: str = field(init=False, default="")
    search_text: str = field(init=False, default="")

    def __post_init__(self) -> None:
        tags_text = format_tags(self.tags)
        object.__setattr__(self, "tags_text", tags_text)
        object.__setattr__(
            self, "search_text", f"{self.key_id}\n{self.description}\n{tags_text}".lower()
        )

    @property
    def damaged(self) -> bool:
        """The server listed this key but could not read its record."""
        return self.state is UNREADABLE

    @classmethod
    def from_info(cls, info: KeyInfo, deletion_date: datetime | None = None) -> KeyRow:
        """A row from a listing item (listings carry no deletion date; pass one if known)."""
        state = key_state_of(info.status)
        return cls(
            key_id=info.key_id,
            description=info.description or "",
            state=state,
            created=info.created_at,
            deletion_date=deletion_date if state is KeyState.PENDING_DELETION else None,
            tags=info.tags,
        )

    @classmethod
    def from_metadata(cls, metadata: KeyMetadata) -> KeyRow:
        """A row from describe, create or a lifecycle answer."""
        return cls(
            key_id=metadata.key_id,
            description=metadata.description or "",
            state=metadata.key_state,
            created=metadata.creation_date,
            deletion_date=metadata.deletion_date,
            tags=metadata.tags,
        )

    @classmethod
    def unreadable(cls, key_id: str) -> KeyRow:
        """A key the server listed by id but could not read."""
        return cls(
            key_id=key_id,
            description="(the server could not read this key)",
            state=UNREADABLE,
            created=None,
            deletion_date=None,
            tags=_NO_TAGS,
        )


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, preferred width and sort key."""

    name: str
    label: str
    width: int
    sort_key: Callable[[KeyRow], Any]


COLUMNS: tuple[Column, ...] = (
    Column("id", "ID", 26, lambda row: row.key_id),
    Column("description", "DESCRIPTION", 22, lambda row: row.description.lower()),
    Column("state", "STATE", 15, lambda row: row.state),
    Column("created", "CREATED", 16, lambda row: row.created or _EPOCH),
    Column(
        "deletion",
        "DELETION",
        28,
        lambda row: (row.deletion_date is None, row.deletion_date or _EPOCH),
    ),
    Column("tags", "TAGS", 12, lambda row: row.tags_text),
)
_COLUMN_NAMES = tuple(column.name for column in COLUMNS)
_MARK_WIDTH = 2
_GAP = 1
_ID_WIDTH_RANGE = (8, 36)  # ids are sized to the longest loaded one, within these bounds
_MIN_DESCRIPTION_WIDTH = 12
_MIN_TAGS_WIDTH = 8


class KeyTable(ScrollView, can_focus=True):
    """Every key, filtered and sorted in memory; line 0 is the header, the rest are rows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="keys.table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="keys.table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="keys.table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="keys.table.page_down"),
        Binding("home", "first", "First key", show=False, id="keys.table.first"),
        Binding("end", "last", "Last key", show=False, id="keys.table.last"),
        Binding("space", "toggle_mark", "Mark", id="keys.mark"),
        Binding("s", "cycle_sort", "Sort", id="keys.sort", show=False),
        Binding("S", "reverse_sort", "Reverse", id="keys.sort_reverse", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-table--header",
        "key-table--cursor",
        "key-table--marked",
        "key-table--damaged",
        "key-table--pending",
        "key-table--disabled",
    }
    DEFAULT_CSS = """
    KeyTable {
        height: 1fr;
        scrollbar-gutter: stable;
    }
    KeyTable > .key-table--header { text-style: bold; background: $panel; }
    KeyTable > .key-table--cursor { background: $block-cursor-blurred-background; }
    KeyTable:focus > .key-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    KeyTable > .key-table--marked { color: $accent; text-style: bold; }
    KeyTable > .key-table--damaged { color: $error; text-style: italic; }
    KeyTable > .key-table--pending { color: $warning; }
    KeyTable > .key-table--disabled { color: $text-muted; }
    """

    class KeyHighlighted(Message):
        """The cursor moved to another key (None: the table is empty)."""

        def __init__(self, key_id: str | None) -> None:
            super().__init__()
            self.key_id = key_id

    class MarksChanged(Message):
        """The set of marked keys changed."""

        def __init__(self, marked: frozenset[str]) -> None:
            super().__init__()
            self.marked = marked

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._rows: dict[str, KeyRow] = {}
        # Every row in the current sort order, and the rows passing the filter in that order:
        # a filter keystroke only narrows or re-filters; it never sorts.
        self._sorted: list[KeyRow] = []
        self._visible: list[KeyRow] = []
        self._marked: set[str] = set()
        self._longest_id = 0
        self.filter_text = ""
        self.sort_column = "id"
        self.sort_reverse = False
        self.cursor_row = 0
        self._last_highlighted: str | None = None

    # --- data ------------------------------------------------------------------------------

    @property
    def total_count(self) -> int:
        """Every key the table holds."""
        return len(self._rows)

    @property
    def visible_count(self) -> int:
        """Keys that pass the filter."""
        return len(self._visible)

    @property
    def visible_key_ids(self) -> list[str]:
        """Ids in display order (after filter and sort)."""
        return [row.key_id for row in self._visible]

    @property
    def highlighted(self) -> KeyRow | None:
        """The row under the cursor."""
        if 0 <= self.cursor_row < len(self._visible):
            return self._visible[self.cursor_row]
        return None

    @property
    def marked(self) -> frozenset[str]:
        """Ids of the marked keys that still exist."""
        return frozenset(self._marked)

    def row(self, key_id: str) -> KeyRow | None:
        """The row of one key, filtered out or not."""
        return self._rows.get(key_id)

    def clear(self) -> None:
        """Forget every row (a refresh streams them in again)."""
        self._rows.clear()
        self._longest_id = 0
        self._marked.clear()
        self._sorted = []
        self._refilter()

    def add_rows(self, rows: Iterable[KeyRow]) -> None:
        """Merge a streamed batch: new rows are sorted in, known ones replaced.

        A batch that sorts after every row held (a listing in id order, sorted by id) is
        appended as it is, so streaming 100,000 keys page by page stays linear.
        """
        fresh: list[KeyRow] = []
        replaced = False
        for row in rows:
            if row.key_id in self._rows:
                replaced = True
            else:
                fresh.append(row)
            self._rows[row.key_id] = row
            self._longest_id = max(self._longest_id, len(row.key_id))
        if replaced:
            self._resort()
            return
        if not fresh:
            return
        sort_key = self._sort_key()
        fresh.sort(key=sort_key, reverse=self.sort_reverse)
        in_order = not self._sorted or self._in_order(self._sorted[-1], fresh[0], sort_key)
        self._sorted.extend(fresh)
        if not in_order:
            self._resort()
            return
        needle = self.filter_text.lower()
        self._visible.extend(row for row in fresh if needle in row.search_text)
        self._changed()

    def replace_all(self, rows: Iterable[KeyRow]) -> None:
        """Swap in a fresh listing at once, keeping marks and the cursor on surviving keys."""
        self._rows = {row.key_id: row for row in rows}
        self._longest_id = max((len(key_id) for key_id in self._rows), default=0)
        self._marked &= self._rows.keys()
        self._resort()

    @property
    def all_key_ids(self) -> list[str]:
        """Every id the table holds, filtered out or not."""
        return list(self._rows)

    def update_row(self, row: KeyRow) -> None:
        """Replace (or add) one key after an action changed it."""
        self._rows[row.key_id] = row
        self._resort()

    def remove_rows(self, key_ids: Iterable[str]) -> None:
        """Drop keys that no longer exist."""
        for key_id in key_ids:
            self._rows.pop(key_id, None)
            self._marked.discard(key_id)
        self._resort()

    def set_filter(self, text: str) -> None:
        """Keep only rows whose id, description or tags contain ``text`` (case-insensitive)."""
        narrowing = text.lower().startswith(self.filter_text.lower())
        self.filter_text = text
        # Typing one more character only narrows what is shown: search the visible rows.
        self._refilter(self._visible if narrowing else self._sorted)

    def sort_by(self, column: str, *, reverse: bool | None = None) -> None:
        """Sort by a column name from :data:`COLUMNS`; the same column again flips direction."""
        if column not in _COLUMN_NAMES:
            raise ValueError(f"unknown column {column!r}")
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column = column
        self.sort_reverse = reverse
        self._resort()

    def move_to(self, key_id: str) -> bool:
        """Put the cursor on a key, clearing the filter if it hides the key."""
        if key_id not in self._rows:
            return False
        position = self._position(key_id)
        if position is None:
            self.set_filter("")
            position = self._position(key_id)
        if position is not None:
            self._set_cursor(position)
        return True

    def _position(self, key_id: str) -> int | None:
        """Where ``key_id`` is among the visible rows (a C-speed identity scan), if it is."""
        row = self._rows.get(key_id)
        if row is None:
            return None
        try:
            return self._visible.index(row)
        except ValueError:
            return None

    def _sort_key(self) -> Callable[[KeyRow], Any]:
        return COLUMNS[_COLUMN_NAMES.index(self.sort_column)].sort_key

    def _in_order(self, before: KeyRow, after: KeyRow, sort_key: Callable[[KeyRow], Any]) -> bool:
        first, second = sort_key(before), sort_key(after)
        return bool(first >= second) if self.sort_reverse else bool(first <= second)

    def _resort(self) -> None:
        """Sort every row again (a changed row, a new column) and filter them."""
        self._sorted = list(self._rows.values())
        self._sorted.sort(key=self._sort_key(), reverse=self.sort_reverse)
        self._refilter()

    def _refilter(self, source: list[KeyRow] | None = None) -> None:
        rows = self._sorted if source is None else source
        needle = self.filter_text.lower()
        self._visible = [row for row in rows if needle in row.search_text] if needle else rows[:]
        self._changed()

    def _changed(self) -> None:
        """The visible rows changed: size, cursor (kept on its key when it can be) and repaint."""
        self.virtual_size = Size(self.virtual_size.width, len(self._visible) + 1)
        current = self._last_highlighted
        position = self._position(current) if current else None
        self._set_cursor(
            position if position is not None else self.cursor_row, scroll=position is not None
        )
        self.refresh()

    # --- cursor ----------------------------------------------------------------------------

    def _set_cursor(self, row_index: int, *, scroll: bool = True) -> None:
        count = len(self._visible)
        self.cursor_row = max(0, min(row_index, count - 1)) if count else 0
        if scroll and count:
            self._scroll_cursor_into_view()
        highlighted = self.highlighted
        key_id = highlighted.key_id if highlighted else None
        if key_id != self._last_highlighted:
            self._last_highlighted = key_id
            self.post_message(self.KeyHighlighted(key_id))
        self.refresh()

    def _scroll_cursor_into_view(self) -> None:
        rows_on_screen = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + rows_on_screen:
            self.scroll_to(y=self.cursor_row - rows_on_screen + 1, animate=False, immediate=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor_up(self) -> None:
        """Previous key."""
        self._set_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        """Next key."""
        self._set_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        """A screenful up."""
        self._set_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        """A screenful down."""
        self._set_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        """First key."""
        self._set_cursor(0)

    def action_last(self) -> None:
        """Last key."""
        self._set_cursor(len(self._visible) - 1)

    def action_toggle_mark(self) -> None:
        """Mark or unmark the highlighted key for a bulk action, then move down."""
        row = self.highlighted
        if row is None:
            return
        if row.key_id in self._marked:
            self._marked.discard(row.key_id)
        else:
            self._marked.add(row.key_id)
        self.post_message(self.MarksChanged(self.marked))
        self._set_cursor(self.cursor_row + 1)

    def clear_marks(self) -> None:
        """Unmark every key."""
        self._marked.clear()
        self.post_message(self.MarksChanged(self.marked))
        self.refresh()

    def action_cycle_sort(self) -> None:
        """Sort by the next column (ascending)."""
        position = (_COLUMN_NAMES.index(self.sort_column) + 1) % len(_COLUMN_NAMES)
        self.sort_by(_COLUMN_NAMES[position], reverse=False)

    def action_reverse_sort(self) -> None:
        """Flip the sort direction."""
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + int(self.scroll_x))
            if column is not None:
                self.sort_by(column)
            return
        self._set_cursor(int(self.scroll_y) + offset.y - 1)

    # --- rendering -------------------------------------------------------------------------

    def _widths(self) -> list[int]:
        """Column widths that fit the table: ids as long as the longest, the rest shared."""
        available = self.scrollable_content_region.width - _MARK_WIDTH - _GAP * len(COLUMNS)
        low, high = _ID_WIDTH_RANGE
        widths = {column.name: column.width for column in COLUMNS}
        widths["id"] = min(max(self._longest_id, low), high)
        fixed = sum(width for name, width in widths.items() if name not in ("description", "tags"))
        flexible = max(available - fixed, _MIN_DESCRIPTION_WIDTH + _MIN_TAGS_WIDTH)
        widths["description"] = max(_MIN_DESCRIPTION_WIDTH, flexible * 11 // 20)
        widths["tags"] = max(_MIN_TAGS_WIDTH, flexible - widths["description"])
        return [widths[column.name] for column in COLUMNS]

    def _column_at(self, x: int) -> str | None:
        position = _MARK_WIDTH
        for column, width in zip(COLUMNS, self._widths(), strict=True):
            if position <= x < position + width + _GAP:
                return column.name
            position += width + _GAP
        return None

    def _cells(self, row: KeyRow) -> list[str]:
        countdown = format_countdown(row.deletion_date, self.clock())
        deletion = f"{format_date(row.deletion_date)} {countdown}".strip()
        return [
            row.key_id,
            row.description,
            row.state.value,
            format_date(row.created),
            deletion,
            row.tags_text,
        ]

    def _line(self, mark: str, cells: list[str], widths: list[int]) -> str:
        parts = [set_cell_size(mark, _MARK_WIDTH)]
        for text, width in zip(cells, widths, strict=True):
            parts.append(set_cell_size(text.replace("\n", " "), width))
        return (" " * _GAP).join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = self._widths()
        base = self.rich_style
        if y == 0:
            arrow = "▼" if self.sort_reverse else "▲"
            labels = [
                f"{column.label} {arrow}" if column.name == self.sort_column else column.label
                for column in COLUMNS
            ]
            style = base + self.get_component_rich_style("key-table--header")
            return Strip([Segment(self._line("", labels, widths), style)]).crop_extend(
                0, width, style
            )
        index = int(self.scroll_y) + y - 1
        if index >= len(self._visible):
            return Strip.blank(width, base)
        row = self._visible[index]
        style = base + self._row_style(row)
        if index == self.cursor_row:
            style += self.get_component_rich_style("key-table--cursor")
        mark = "●" if row.key_id in self._marked else ""
        text = self._line(mark, self._cells(row), widths)
        return Strip([Segment(text, style)]).crop_extend(0, width, style)

    def _row_style(self, row: KeyRow) -> Style:
        """Unreadable, marked, pending deletion, otherwise unusable (muted), usable (plain)."""
        if row.damaged:
            return self.get_component_rich_style("key-table--damaged")
        if row.key_id in self._marked:
            return self.get_component_rich_style("key-table--marked")
        if unusable_reason(row.state) is None:
            return Style()
        if row.state is KeyState.PENDING_DELETION:
            return self.get_component_rich_style("key-table--pending")
        return self.get_component_rich_style("key-table--disabled")

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(0, len(self._visible) + 1)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.refresh()
