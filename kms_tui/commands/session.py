"""The server a command talks to: the same settings, profiles and clients as the console.

``--endpoint URL`` (credentials from ``RUSTFS_ACCESS_KEY``/``RUSTFS_SECRET_KEY``), ``--profile``,
the config file's ``default_profile``, or else the embedded server: started for the command in
its own process exactly as the console starts it (fresh random credentials, the platform data
directory, the first-run bootstrap), and stopped when the command ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kms_tui.commands.errors import EXIT_USAGE, CommandError
from kms_tui.commands.output import Output

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryptionClient
    from kms_tui.api.errors import KmsError
    from kms_tui.settings import Connection

__all__ = ["Session", "open_session", "refuse_if_read_only", "resolve"]


@dataclass
class Session:
    """Both clients for one server, and what the command needs to say where it is."""

    connection: Connection
    endpoint: str
    admin: KmsAdminClient
    buckets: BucketEncryptionClient
    embedded: bool
    bootstrap_error: KmsError | None = field(default=None)

    @property
    def label(self) -> str:
        """``embedded http://127.0.0.1:PORT``, ``profile prod (https://…)`` or the endpoint."""
        from kms_tui.settings import ENDPOINT_NAME

        if self.embedded:
            return f"embedded {self.endpoint}"
        if self.connection.name == ENDPOINT_NAME:
            return self.endpoint
        return f"profile {self.connection.name} ({self.endpoint})"


def resolve(args: argparse.Namespace) -> Connection:
    """The connection the global options choose; a bad config or option is SettingsError."""
    from kms_tui.settings import resolve_connection
    from kms_tui.settings_reader import load_settings

    settings = load_settings(args.config)
    return resolve_connection(
        settings, profile=args.profile, endpoint=args.endpoint, read_only=args.read_only
    )


def refuse_if_read_only(connection: Connection, what: str) -> None:
    """Exit 2 before anything is sent when the session may not change anything."""
    if connection.read_only:
        where = (
            "--read-only was given"
            if connection.name in ("embedded", "endpoint")
            else f"profile {connection.name!r} is read-only (or --read-only was given)"
        )
        raise CommandError(f"refusing to {what}: {where}", code="ReadOnly", exit_code=EXIT_USAGE)


@contextlib.asynccontextmanager
async def open_session(
    connection: Connection, out: Output, *, keep_bootstrap_error: bool = False
) -> AsyncIterator[Session]:
    """Clients for ``connection``; the embedded server is started first and stopped after.

    A failed first-run bootstrap of the embedded server raises, unless
    ``keep_bootstrap_error`` (``doctor`` reports it as a failed check instead).
    """
    process = None
    try:
        if connection.is_embedded:
            from kms_tui import paths
            from kms_tui.embedded.child import EmbeddedProcess

            out.progress("starting the embedded KMS server…")
            process = EmbeddedProcess(
                paths.server_data_dir(),
                access_key=connection.access_key,
                secret_key=connection.secret_key,
            ).spawn()
            endpoint = await asyncio.to_thread(process.wait_ready)
        else:
            assert connection.endpoint is not None
            endpoint = connection.endpoint
        from kms_tui.api.errors import KmsError
        from kms_tui.factory import make_clients

        admin, buckets = make_clients(connection, endpoint)
        try:
            bootstrap_error: KmsError | None = None
            if process is not None:
                from kms_tui import paths
                from kms_tui.bootstrap import bootstrap_embedded

                try:
                    await bootstrap_embedded(admin, key_dir=paths.data_dir() / "keys")
                except KmsError as err:
                    if not keep_bootstrap_error:
                        raise
                    bootstrap_error = err
            out.clear_progress()
            yield Session(
                connection, endpoint, admin, buckets, process is not None, bootstrap_error
            )
        finally:
            await admin.aclose()
            await buckets.aclose()
    finally:
        out.clear_progress()
        if process is not None:
            process.stop()
