"""A searchable picker over every key on the server (all pages, not just the first)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsError
from kms_tui.api.models import KeyInfo
from kms_tui.tui.key_usability import key_state_of, unusable_reason
from kms_tui.tui.styles import style_path

__all__ = ["KeyPickerDialog", "key_matches"]

AdminLoader = Callable[[], Awaitable[KmsAdminClient]]


def key_matches(key: KeyInfo, needle: str) -> bool:
    """Case-insensitive substring match over id, description and tags."""
    if not needle:
        return True
    needle = needle.casefold()
    haystack = [key.key_id, key.description or ""]
    haystack.extend(f"{name}={value}" for name, value in key.tags.items())
    return any(needle in item.casefold() for item in haystack)


class KeyPickerDialog(ModalScreen[str | None]):
    """Choose one key: type to filter, Enter picks the highlighted (or first) usable match."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="key_picker.cancel"),
        Binding("down", "focus_list", "To the list", show=False, id="key_picker.focus_list"),
    ]

    def __init__(
        self,
        load_admin: AdminLoader,
        *,
        title: str = "Choose a key",
        preselect: str | None = None,
        page_size: int = 1000,
    ) -> None:
        super().__init__(classes="kms-dialog key-picker")
        self._load_admin = load_admin
        self.dialog_title = title
        self.preselect = preselect
        self.page_size = page_size
        self.keys: list[KeyInfo] = []
        self.keys_loading = True

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.dialog_title, classes="dialog-title", markup=False)
            yield Input(placeholder="filter by id, description or tag", id="key-filter")
            yield Label(
                "loading keys…", id="key-picker-status", classes="field-label", markup=False
            )
            yield OptionList(id="key-options", classes="results-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Choose", id="choose", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#key-filter", Input).focus()
        self.load_keys()

    @work(exclusive=True, group="key-picker", exit_on_error=False)
    async def load_keys(self) -> None:
        """Stream every page of keys into the list as it arrives."""
        status = self.query_one("#key-picker-status", Label)
        try:
            admin = await self._load_admin()
            async for page in admin.iter_keys(page_size=self.page_size):
                self.keys.extend(page.keys)
                status.update(f"loading… {len(self.keys)} keys so far")
                self._rebuild_options()
        except KmsError as err:
            self.keys_loading = False
            status.update(f"could not list keys: {err}")
            self.notify(str(err), title="Listing keys failed", severity="error", markup=False)
            return
        self.keys_loading = False
        self._rebuild_options()

    def _visible_keys(self) -> list[KeyInfo]:
        needle = self.query_one("#key-filter", Input).value.strip()
        return [key for key in self.keys if key_matches(key, needle)]

    def _rebuild_options(self) -> None:
        option_list = self.query_one("#key-options", OptionList)
        previous = option_list.highlighted_option
        keep_id = previous.id if previous is not None else self.preselect
        visible = self._visible_keys()
        options: list[Option] = []
        for key in visible:
            reason = unusable_reason(key_state_of(key.status))
            prompt = Text(key.key_id, style="bold")
            if key.description:
                prompt.append(f"  {key.description}", style="dim")
            if reason:
                prompt.append(f"  ({reason}, not usable)", style="italic")
            options.append(Option(prompt, id=key.key_id, disabled=reason is not None))
        option_list.set_options(options)
        usable = [option for option in options if not option.disabled]
        target = next((o for o in usable if o.id == keep_id), usable[0] if usable else None)
        if target is not None and target.id is not None:
            option_list.highlighted = option_list.get_option_index(target.id)
        total = len(self.keys)
        suffix = " (still loading…)" if self.keys_loading else ""
        self.query_one("#key-picker-status", Label).update(
            f"{len(visible)} of {total} keys shown, {len(usable)} usable{suffix}"
        )

    @on(Input.Changed, "#key-filter")
    def _filter_changed(self) -> None:
        self._rebuild_options()

    @on(Input.Submitted, "#key-filter")
    def _filter_submitted(self) -> None:
        self._choose_highlighted()

    @on(OptionList.OptionSelected, "#key-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None and not event.option.disabled:
            self.dismiss(event.option.id)

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "choose":
            self._choose_highlighted()
        else:
            self.dismiss(None)

    def _choose_highlighted(self) -> None:
        option = self.query_one("#key-options", OptionList).highlighted_option
        if option is None or option.id is None or option.disabled:
            self.notify("no usable key matches the filter", severity="warning")
            return
        self.dismiss(option.id)

    def action_focus_list(self) -> None:
        """Down from the filter moves into the list."""
        option_list = self.query_one("#key-options", OptionList)
        if option_list.has_focus:
            option_list.action_cursor_down()
        else:
            option_list.focus()

    def action_cancel(self) -> None:
        """Escape picks nothing."""
        self.dismiss(None)
