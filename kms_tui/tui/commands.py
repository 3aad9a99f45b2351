"""The command palette (`ctrl+p`, `:`): every screen's actions, jump to a key, switch profile."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from kms_tui.tui.modes import MODES, screen_class

if TYPE_CHECKING:
    from kms_tui.tui.app import KmsTuiApp

__all__ = ["KmsCommands", "PaletteCommand", "palette_commands", "screen_bindings"]


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One palette entry: what it says, its help line, and what it runs."""

    text: str
    help: str
    run: Callable[[], Any]


def screen_bindings(cls: type) -> list[Binding]:
    """Every binding a screen class declares (its own and inherited), described ones only."""
    found: dict[str, Binding] = {}
    for klass in reversed(cls.__mro__):
        for binding in Binding.make_bindings(klass.__dict__.get("BINDINGS", [])):
            if binding.description:
                found[binding.id or binding.action] = binding
    return list(found.values())


def _key_label(app: KmsTuiApp, binding: Binding) -> str:
    keymap = app.context.settings.keymap
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    return app.get_key_display(Binding(keys.split(",")[0].strip(), binding.action))


def palette_commands(app: KmsTuiApp) -> Iterator[PaletteCommand]:
    """Everything the palette offers right now."""
    for mode in MODES.values():
        yield PaletteCommand(
            f"Go to {mode.title}",
            f"switch to the {mode.title} screen",
            functools.partial(app.switch_mode, mode.name),
        )
        for binding in screen_bindings(screen_class(mode.name)):
            yield PaletteCommand(
                f"{mode.title}: {binding.description}",
                f"{binding.id or binding.action}  (key {_key_label(app, binding)})",
                functools.partial(app.run_screen_action, mode.name, binding.action),
            )
    yield PaletteCommand(
        "Buckets: Check all buckets",
        "probe every bucket's default encryption (writes and deletes a probe object)",
        functools.partial(app.run_screen_action, "buckets", "check_all_buckets"),
    )
    yield PaletteCommand("Help", "bindings of the current screen", app.action_help)
    yield PaletteCommand("Activity log", "changes and failures", app.action_activity)
    yield PaletteCommand("Retry connection", "poll the server now", app.retry_connection_now)
    for key_id in app.loaded_key_ids():
        yield PaletteCommand(
            f"Jump to key {key_id}",
            "highlight it on Keys",
            functools.partial(app.jump_to_key, key_id),
        )
    current = app.context.profile_name
    for name in app.profile_names:
        if name != current:
            yield PaletteCommand(
                f"Switch profile: {name}",
                "reconnect with this profile",
                functools.partial(app.switch_profile, name),
            )
    yield PaletteCommand("Quit", "leave kms-tui", app.exit)


class KmsCommands(Provider):
    """Palette provider over :func:`palette_commands`."""

    def _commands(self) -> list[PaletteCommand]:
        return list(palette_commands(cast("KmsTuiApp", self.app)))

    async def discover(self) -> Hits:
        """Everything, unfiltered, when the prompt is empty."""
        for command in self._commands():
            yield DiscoveryHit(command.text, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match the query against each command's text."""
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(score, matcher.highlight(command.text), command.run, help=command.help)
