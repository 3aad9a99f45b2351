"""Run one command: refusals first, then the command in an event loop, then its exit code.

A change refused because the session is read-only, or a destructive command off a terminal
without ``--yes``, stops with exit 2 before any server is contacted (none is started). A closed
stdout (``| head``) ends the command quietly with exit 0; Ctrl-C ends it with 130 after the
clients are closed and an embedded server is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kms_tui.commands.confirm import require_yes_off_terminal
from kms_tui.commands.errors import EXIT_INTERRUPTED, EXIT_OK, CommandError, exit_code_for
from kms_tui.commands.output import Output

if TYPE_CHECKING:
    from kms_tui.commands.session import Session
    from kms_tui.settings import Connection

__all__ = ["Context", "Handler", "run_command"]


@dataclass
class Context:
    """What a command handler gets: its arguments, its output, and the way to its server."""

    args: argparse.Namespace
    out: Output
    _connection: Connection | None = field(default=None, repr=False)

    @property
    def connection(self) -> Connection:
        """The connection the global options choose (resolved once; SettingsError if bad)."""
        if self._connection is None:
            from kms_tui.commands.session import resolve

            self._connection = resolve(self.args)
        return self._connection

    @contextlib.asynccontextmanager
    async def session(self, *, keep_bootstrap_error: bool = False) -> AsyncIterator[Session]:
        """Clients for the chosen server (the embedded one is started and stopped here)."""
        from kms_tui.commands.session import open_session

        async with open_session(
            self.connection, self.out, keep_bootstrap_error=keep_bootstrap_error
        ) as session:
            yield session

    def refuse_if_read_only(self, what: str) -> None:
        """Exit 2 when the session may not change anything."""
        from kms_tui.commands.session import refuse_if_read_only

        refuse_if_read_only(self.connection, what)


Handler = Callable[[Context], Coroutine[Any, Any, int]]

_REPORTED = (CommandError, ValueError, OSError)


def _handler(spec: str) -> Handler:
    module_name, _, function = spec.partition(":")
    return cast(Handler, getattr(importlib.import_module(module_name), function))


def _reportable(err: BaseException) -> bool:
    from kms_tui.settings import SettingsError

    if isinstance(err, (*_REPORTED, SettingsError)):
        return True
    name = type(err).__name__
    if name in ("EmbeddedProcessError", "DataDirLockedError"):
        return True
    return type(err).__module__.startswith("kms_tui.api") or name == "BootstrapError"


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the exit-time flush stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run_command(args: argparse.Namespace) -> int:
    """Run the command ``args`` chose; returns the process exit code."""
    out = Output(json_mode=bool(args.json), ndjson=bool(getattr(args, "ndjson", False)))
    context = Context(args, out)
    try:
        if args.writes:
            context.refuse_if_read_only(args.writes)
        if args.destructive:
            require_yes_off_terminal(bool(getattr(args, "yes", False)), _command_name(args))
        handler = _handler(args.handler)
        return asyncio.run(handler(context)) or EXIT_OK
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except KeyboardInterrupt as err:
        _report(out, err)
        return EXIT_INTERRUPTED
    except Exception as err:
        if not _reportable(err):
            raise
        _report(out, _naming_the_server(err, context))
        return exit_code_for(err)


def _naming_the_server(err: Exception, context: Context) -> Exception:
    """A transport failure names the path only; on the command line say which server, too."""
    from kms_tui.api.errors import KmsTransportError

    connection = context._connection
    if not isinstance(err, KmsTransportError) or connection is None or not connection.endpoint:
        return err
    return type(err)(
        f"{connection.endpoint}: {err.message}",
        status=err.status,
        code=err.code,
        request_id=err.request_id,
    )


def _report(out: Output, err: BaseException) -> None:
    try:
        out.error(err)
    except BrokenPipeError:
        _quiet_stdout()


def _command_name(args: argparse.Namespace) -> str:
    parts = [args.command]
    for attr in ("keys_command", "buckets_command", "backup_command"):
        value = getattr(args, attr, None)
        if value:
            parts.append(value)
    return "kms-tui " + " ".join(parts)
