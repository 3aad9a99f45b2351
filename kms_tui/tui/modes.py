"""The console's five top-level screens (modes): their keys, titles, and where each class lives.

Screens are imported only when first shown, so start-up loads the Keys screen alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kms_tui.tui.screens.base import KmsScreen

__all__ = ["MODES", "Mode", "screen_class"]


@dataclass(frozen=True, slots=True)
class Mode:
    """One top-level screen: its default key, the module and class that draw it, its title."""

    name: str
    key: str
    module: str
    class_name: str
    title: str

    @property
    def binding_id(self) -> str:
        """The keymap id of the key that switches to this mode (``app.mode_keys``)."""
        return f"app.mode_{self.name}"


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("service", "1", "kms_tui.tui.screens.service", "ServiceScreen", "Service"),
        Mode("keys", "2", "kms_tui.tui.screens.keys", "KeysScreen", "Keys"),
        Mode("datakeys", "3", "kms_tui.tui.screens.datakeys", "DataKeysScreen", "Data keys"),
        Mode("buckets", "4", "kms_tui.tui.screens.buckets", "BucketsScreen", "Buckets"),
        Mode("stats", "5", "kms_tui.tui.screens.stats", "StatsScreen", "Live stats"),
    )
}


def screen_class(mode: str) -> type[KmsScreen]:
    """The screen class of ``mode`` (imports its module on first use)."""
    spec = MODES[mode]
    found: type[KmsScreen] = getattr(importlib.import_module(spec.module), spec.class_name)
    return found
