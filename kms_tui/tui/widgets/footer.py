"""The footer: Textual's, rebuilt only when the keys it shows change.

Textual's ``Footer`` recomposes (unmounts and mounts every key, restyling each one) whenever
the screen publishes ``bindings_updated``, and a screen publishes it on every
``refresh_bindings``: after each poll round, permission change and focus move, whether or not
anything the footer shows changed. With some twenty keys that is ~25 ms a time on a slow
machine, ten times before the first key row. This footer remembers what it last showed: the
same keys in the same states are left alone; the same keys with another enabled state or
tooltip (the common change: a capability or permission became known) are updated in place;
only another set of keys recomposes.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["KmsFooter"]

_Layout = tuple[Hashable, ...]
_States = dict[tuple[str, str], tuple[bool, str, str]]  # (key, action) -> enabled, tooltips


class KmsFooter(Footer):
    """A ``Footer`` that recomposes only when the keys it shows change."""

    _layout: _Layout | None = None
    _states: _States | None = None

    def _content(self, screen: Screen[object]) -> tuple[_Layout, _States]:
        """The keys shown, in order (what recomposing depends on), and each one's state."""
        app = self.app
        layout: list[Hashable] = [self.compact, self.show_command_palette]
        states: _States = {}
        for _, binding, enabled, tooltip in screen.active_bindings.values():
            if not binding.show and binding.key != app.COMMAND_PALETTE_BINDING:
                continue
            layout.append(
                (
                    binding.key,
                    app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    binding.group,
                    binding.show,
                )
            )
            states[(binding.key, binding.action)] = (
                enabled,
                tooltip,
                tooltip or binding.description,  # what a grouped key's tooltip is
            )
        return tuple(layout), states

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._bindings_ready and screen is self.screen and self._layout is not None:
            layout, states = self._content(screen)
            if layout == self._layout:
                if states != self._states and self._update_in_place(states):
                    self._states = states
                return
            if screen.app.app_focus and self.is_attached:
                # Textual schedules one recompose now; the calls until it runs must not
                # schedule more (the keys they would show are these, or updated in place).
                self._layout, self._states = layout, states
        super().bindings_changed(screen)

    def _update_in_place(self, states: _States) -> bool:
        """Set each shown key's enabled state and tooltip; False when one cannot be matched."""
        keys: list[Any] = list(self.query("FooterKey"))  # Textual does not export the class
        if any((key.key, key.action) not in states for key in keys):
            return False
        for key in keys:
            enabled, tooltip, grouped_tooltip = states[(key.key, key.action)]
            key.set_class(not enabled, "-disabled")
            key._disabled = not enabled  # what a click checks (FooterKey.on_mouse_down)
            if key.has_class("-grouped"):
                key.tooltip = grouped_tooltip
            elif not key.has_class("-command-palette"):
                key.tooltip = tooltip or None
        return True

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._layout, self._states = self._content(self.screen)
        yield from super().compose()
