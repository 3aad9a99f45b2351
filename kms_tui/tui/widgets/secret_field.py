"""A masked secret on screen: hidden until revealed, wiped after a timeout.

The widget holds the secret in a ``bytearray`` that it overwrites with zeros when it clears,
so a plaintext data key does not outlive its time on screen in memory the widget owns. The
value is shown as base64 only while revealed and never appears in ``repr`` or messages.
"""

from __future__ import annotations

import base64
import time
from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

__all__ = ["SecretField"]

_MASK_CHAR = "•"


class SecretField(Widget, can_focus=False):
    """Show one secret masked, reveal it on request and forget it after ``clear_after`` s."""

    clear_after_seconds: ClassVar[float] = 30.0
    """Default lifetime of a secret on screen; tests shorten it."""

    revealed: reactive[bool] = reactive(False)

    class Cleared(Message):
        """The secret was wiped (by the timeout or on request)."""

        def __init__(self, field: SecretField, *, expired: bool) -> None:
            super().__init__()
            self.field = field
            self.expired = expired

        @property
        def control(self) -> SecretField:
            """The field that cleared, so handlers can use ``@on(..., "#id")``."""
            return self.field

    def __init__(
        self,
        *,
        placeholder: str = "(none)",
        clear_after: float | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self.clear_after = clear_after if clear_after is not None else self.clear_after_seconds
        self._secret: bytearray | None = None
        self._deadline: float | None = None
        self._expiry_timer: Timer | None = None
        self._countdown_timer: Timer | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def has_secret(self) -> bool:
        """Whether a secret is currently held."""
        return self._secret is not None

    @property
    def seconds_left(self) -> float | None:
        """Seconds until the secret is wiped, or None when nothing is held."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def set_secret(self, secret: bytes, *, clear_after: float | None = None) -> None:
        """Hold a new secret (masked) and start its countdown; any previous one is wiped."""
        self._wipe()
        self._secret = bytearray(secret)
        lifetime = self.clear_after if clear_after is None else clear_after
        self._deadline = time.monotonic() + lifetime
        self._expiry_timer = self.set_timer(lifetime, self._expire, name="secret-expiry")
        self._countdown_timer = self.set_interval(1.0, self.refresh, name="secret-countdown")
        self.revealed = False
        self.refresh()

    def reveal(self) -> None:
        """Show the secret as base64 until hidden or cleared."""
        if self._secret is not None:
            self.revealed = True

    def hide(self) -> None:
        """Mask the secret again."""
        self.revealed = False

    def toggle_reveal(self) -> bool:
        """Flip between masked and shown; returns whether it is now shown."""
        if self.revealed or self._secret is None:
            self.hide()
        else:
            self.reveal()
        return self.revealed

    def clear(self) -> None:
        """Forget the secret now (overwriting the held bytes)."""
        if self._secret is None:
            return
        self._wipe()
        self.post_message(self.Cleared(self, expired=False))

    def _expire(self) -> None:
        if self._secret is None:
            return
        self._wipe()
        self.post_message(self.Cleared(self, expired=True))

    def _wipe(self) -> None:
        for timer in (self._expiry_timer, self._countdown_timer):
            if timer is not None:
                timer.stop()
        self._expiry_timer = None
        self._countdown_timer = None
        if self._secret is not None:
            self._secret[:] = bytes(len(self._secret))
        self._secret = None
        self._deadline = None
        self.revealed = False
        self.refresh()

    def on_unmount(self) -> None:
        """A field that leaves the screen takes its secret with it."""
        self._wipe()

    # -- rendering ---------------------------------------------------------------------------

    def _masked_length(self) -> int:
        assert self._secret is not None
        return 4 * ((len(self._secret) + 2) // 3)

    def render(self) -> Text:
        """Mask, base64 or placeholder, followed by the countdown."""
        if self._secret is None:
            return Text(self.placeholder, style="dim")
        if self.revealed:
            shown = Text(base64.b64encode(bytes(self._secret)).decode("ascii"), style="bold")
        else:
            shown = Text(_MASK_CHAR * self._masked_length())
        left = self.seconds_left or 0.0
        state = "shown" if self.revealed else "hidden"
        shown.append(f"  ({state}, clears in {left:.0f} s)", style="dim")
        return shown
