"""The footer rebuilds only when its keys change; a changed state is updated in place."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from kms_tui.tui.widgets.footer import KmsFooter
from tests.tui.helpers import footer_entries, wait_until


class _Screen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "create", "Create"),
        Binding("x", "extra", "Extra"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.create_enabled = True
        self.extra_shown = False

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield KmsFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            return True if self.create_enabled else None
        if action == "extra":
            return self.extra_shown
        return True

    def action_create(self) -> None:
        pass

    def action_extra(self) -> None:
        pass


class _App(App[None]):
    def on_mount(self) -> None:
        self.push_screen(_Screen())


def _keys(screen: Screen[Any]) -> list[object]:
    return list(screen.query("FooterKey"))


async def test_a_changed_enabled_state_is_updated_in_place_and_a_new_key_recomposes() -> None:
    app = _App()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: "Create" in footer_entries(app.screen), "the footer")
        screen = app.screen
        assert isinstance(screen, _Screen)
        assert footer_entries(screen)["Create"].enabled
        assert "Extra" not in footer_entries(screen)
        before = _keys(screen)

        screen.create_enabled = False
        screen.refresh_bindings()
        await wait_until(
            pilot, lambda: not footer_entries(screen)["Create"].enabled, "Create greyed"
        )
        assert _keys(screen) == before  # the same widgets: updated, not rebuilt

        screen.refresh_bindings()  # nothing changed: still the same widgets
        await pilot.pause()
        await pilot.pause()
        assert _keys(screen) == before

        screen.extra_shown = True
        screen.refresh_bindings()
        await wait_until(pilot, lambda: "Extra" in footer_entries(screen), "Extra shown")
        assert not footer_entries(screen)["Create"].enabled
        assert _keys(screen) != before  # another set of keys: rebuilt


async def test_a_greyed_key_clicked_rings_instead_of_acting() -> None:
    app = _App()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: "Create" in footer_entries(app.screen), "the footer")
        screen = app.screen
        assert isinstance(screen, _Screen)
        screen.create_enabled = False
        screen.refresh_bindings()
        await wait_until(
            pilot, lambda: not footer_entries(screen)["Create"].enabled, "Create greyed"
        )
        key: Any = next(k for k in _keys(screen) if getattr(k, "action", "") == "create")
        assert key._disabled  # what Textual's FooterKey checks on a click
