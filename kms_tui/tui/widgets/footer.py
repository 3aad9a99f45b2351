"""The footer: Textual's, rebuilt only when what it shows has changed.

Textual's ``Footer`` recomposes (unmounts and mounts every key, restyling each one) whenever
the screen publishes ``bindings_updated``, and a screen publishes it on every
``refresh_bindings``: after each poll round, permission change and focus move, whether or not
a binding's label or state changed. With some twenty keys that is ~25 ms a time on a slow
machine, ten times during start-up alone. This footer remembers what it last composed (each
shown binding's key, label, action, enabled state and tooltip) and skips a rebuild that would
draw the same thing.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["KmsFooter"]


class KmsFooter(Footer):
    """A ``Footer`` that recomposes only when its content would change."""

    _composed: Hashable | None = None

    def _content(self, screen: Screen[object]) -> Hashable:
        app = self.app
        shown = tuple(
            (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.group,
                enabled,
                tooltip,
            )
            for (_, binding, enabled, tooltip) in screen.active_bindings.values()
            if binding.show
        )
        return (shown, self.compact, self.show_command_palette)

    def bindings_changed(self, screen: Screen[object]) -> None:
        if (
            self._bindings_ready
            and screen is self.screen
            and self._composed is not None
            and self._content(screen) == self._composed
        ):
            return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._composed = self._content(self.screen)
        yield from super().compose()
