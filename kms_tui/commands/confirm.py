"""Typed confirmations for destructive commands, as the console asks for them.

On a terminal (stdin is a TTY) the command shows what it will do and asks for a word typed back
(the key id, the number of keys, the bucket name, the backup id); anywhere else it needs
``--yes``, or it stops with exit 2 before anything is sent.
"""

from __future__ import annotations

import asyncio
import os
import sys

from kms_tui.commands.errors import CommandError
from kms_tui.commands.output import Output

__all__ = ["ask_typed", "interactive", "require_yes_off_terminal"]


def interactive() -> bool:
    """Whether stdin is a terminal a person can answer on."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def require_yes_off_terminal(yes: bool, what: str) -> None:
    """Refuse (exit 2) a destructive command off a terminal without ``--yes``."""
    if yes or interactive():
        return
    raise CommandError(
        f"{what} needs --yes when stdin is not a terminal; nothing was changed",
        code="ConfirmationRequired",
    )


async def _read_line() -> str:
    """One line from the terminal without blocking the event loop (so Ctrl-C still works)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return os.read(fd, 4096).decode("utf-8", errors="replace")


async def ask_typed(out: Output, prompt: str, expected: str) -> None:
    """Ask on stderr for ``expected`` to be typed back; anything else stops with exit 2."""
    out.clear_progress()
    out.stderr.write(f"{prompt}: ")
    out.stderr.flush()
    answer = await _read_line()
    if answer.strip() != expected:
        raise CommandError(
            "the confirmation did not match; nothing was changed", code="NotConfirmed"
        )
