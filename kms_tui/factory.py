"""The one place the layers meet: settings and a connection in, a ready-to-run app out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kms_tui import paths
from kms_tui.api.errors import KmsConnectionError
from kms_tui.embedded.child import EmbeddedProcess, EmbeddedProcessError
from kms_tui.settings import EMBEDDED_NAME, Connection, Settings, resolve_connection

if TYPE_CHECKING:
    # Imported where they are used: the command line builds clients with make_clients and
    # must not load Textual for that; the console draws its first frame before it loads the
    # client stack (httpx, botocore's signer, the models), which only connecting needs.
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryptionClient
    from kms_tui.tui.activity import ActivityLog
    from kms_tui.tui.app import KmsTuiApp
    from kms_tui.tui.context import AppContext

__all__ = ["build_app", "build_context", "connect", "make_clients"]


def make_clients(
    connection: Connection, endpoint: str
) -> tuple[KmsAdminClient, BucketEncryptionClient]:
    """Both clients for one endpoint, with the connection's credentials and TLS settings."""
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryptionClient

    admin = KmsAdminClient(
        endpoint,
        connection.access_key,
        connection.secret_key,
        region=connection.region,
        session_token=connection.session_token,
        timeout=connection.timeout_seconds,
        verify=connection.verify,
    )
    buckets = BucketEncryptionClient(
        endpoint,
        connection.access_key,
        connection.secret_key,
        region=connection.region,
        session_token=connection.session_token,
        timeout=connection.timeout_seconds,
        verify=connection.verify,
    )
    return admin, buckets


def build_context(
    connection: Connection,
    settings: Settings,
    activity: ActivityLog,
    *,
    clock: Callable[[], datetime] | None = None,
    endpoint_label: str | None = None,
    timer: Callable[[], float] | None = None,
) -> AppContext:
    """A context without clients yet: :func:`connect` attaches them (every context, remote or
    embedded, is connected by the app's connect worker, after the first frame)."""
    from kms_tui.tui.context import AppContext

    return AppContext(
        connection, settings, activity, clock=clock, endpoint_label=endpoint_label, timer=timer
    )


async def connect(
    context: AppContext,
    *,
    embedded_base: Path | None = None,
    process: EmbeddedProcess | None = None,
) -> None:
    """Attach the context's clients; for the embedded server, start it (a child process) and
    bootstrap it first.

    ``process`` is one the command line spawned before loading the console, if it did. A
    :class:`KmsError` from the bootstrap is raised after the clients are attached, so the
    Service screen can still be used to repair it.
    """
    connection = context.connection
    if context.is_ready:
        return
    if connection.endpoint is not None:
        # The cli preloads the stack; this waits for it (or loads it) on a worker thread, never
        # on the UI loop, even while the preload is still part way through a module.
        await asyncio.to_thread(_import_client_stack)
        context.attach_clients(*make_clients(connection, connection.endpoint))
        return
    base = embedded_base if embedded_base is not None else paths.data_dir()
    server_dir = base / "server" if embedded_base is not None else paths.server_data_dir()
    server = process or EmbeddedProcess(
        server_dir,
        access_key=connection.access_key,
        secret_key=connection.secret_key,
        users_file=connection.users_file,
    )
    context.add_cleanup(server.stop)
    try:
        # The client stack is imported on a worker thread while the server gets ready, so the
        # UI thread draws the first frame meanwhile instead of waiting for the imports.
        endpoint, _ = await asyncio.gather(
            asyncio.to_thread(server.wait_ready), asyncio.to_thread(_import_client_stack)
        )
    except EmbeddedProcessError as err:
        context.fail(KmsConnectionError(f"the embedded KMS server could not start: {err}"))
        return
    context.embedded_server = server
    signed_in = connection
    if connection.account is not None:
        try:
            signed_in = _as_account(connection)
        except KmsConnectionError as err:
            context.fail(err)
            return
    from kms_tui.bootstrap import bootstrap_embedded

    admin, buckets = make_clients(connection, endpoint)
    label = f"embedded {endpoint}"
    try:
        result = await bootstrap_embedded(admin, key_dir=base / "keys")
    finally:
        if signed_in is not connection:
            # Set up as root; the session itself signs in as the chosen account.
            await admin.aclose()
            await buckets.aclose()
            admin, buckets = make_clients(signed_in, endpoint)
            label += f" as {signed_in.access_key}"
        # Screens wait in context.admin() until the server is set up (or setting up failed).
        context.attach_clients(admin, buckets, endpoint_label=label)
    if result.configured:
        context.activity.record(
            "bootstrap embedded server",
            str(base / "keys"),
            True,
            message="configured a Local backend"
            + (" with a new master key" if result.created_master_key else ""),
        )


def preload_client_stack() -> None:
    """Start loading the client stack on a daemon thread (connecting waits for it if needed)."""
    import threading

    def preload() -> None:
        # Nothing may reach the terminal from here: connecting imports the stack again on its
        # own and reports any failure the way every connection failure is reported.
        with contextlib.suppress(Exception):
            _import_client_stack()

    threading.Thread(target=preload, name="preload-client", daemon=True).start()


# What connecting needs: the clients and bootstrap (httpx, botocore's signer, the models) and
# httpx's transport, which httpx itself loads only when a client is made. The optional ones are
# a head start only: anyio's asyncio backend loads at the first request otherwise (about 35 ms
# with httpcore, on the UI loop), and its module is anyio's own business, so it may be missing.
_CLIENT_STACK = ("httpcore", "kms_tui.api.admin", "kms_tui.api.buckets", "kms_tui.bootstrap")
_CLIENT_STACK_OPTIONAL = ("anyio._backends._asyncio",)


def _import_client_stack() -> None:
    """Load :data:`_CLIENT_STACK` (and what of :data:`_CLIENT_STACK_OPTIONAL` there is)."""
    for name in _CLIENT_STACK:
        importlib.import_module(name)
    for name in _CLIENT_STACK_OPTIONAL:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _as_account(connection: Connection) -> Connection:
    """The embedded connection with the credentials of ``connection.account`` from its file."""
    from kms_tui.embedded.accounts import UsersFileError, load_users

    assert connection.users_file is not None and connection.account is not None
    try:
        users = load_users(connection.users_file)
    except UsersFileError as err:
        raise KmsConnectionError(f"the embedded server's users file: {err}") from None
    for account in users:
        if account.access_key == connection.account:
            return dataclasses.replace(
                connection, access_key=account.access_key, secret_key=account.secret_key
            )
    raise KmsConnectionError(
        f"{connection.users_file} has no account {connection.account!r} (see [embedded] account)"
    )


class EmbeddedConnector:
    """The app's connector: hands a process spawned early to the first embedded connect only
    (a retry or a later switch back to the embedded profile starts a fresh one)."""

    def __init__(self, embedded_base: Path | None, process: EmbeddedProcess | None) -> None:
        self.embedded_base = embedded_base
        self._early = process

    async def __call__(self, context: AppContext) -> None:
        process = None
        if context.connection.is_embedded:
            process, self._early = self._early, None
            if process is not None and process.access_key != context.connection.access_key:
                process.stop()  # spawned for other credentials: not this session's
                process = None
        await connect(context, embedded_base=self.embedded_base, process=process)


def build_app(
    connection: Connection,
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    embedded_data_dir: Path | None = None,
    endpoint_label: str | None = None,
    cli_read_only: bool = False,
    activity: ActivityLog | None = None,
    timer: Callable[[], float] | None = None,
    embedded_process: EmbeddedProcess | None = None,
) -> KmsTuiApp:
    """The console for ``connection``; profile switches rebuild the context the same way."""
    from kms_tui.tui.activity import ActivityLog
    from kms_tui.tui.app import KmsTuiApp

    activity = activity if activity is not None else ActivityLog(clock=clock)
    context = build_context(
        connection, settings, activity, clock=clock, endpoint_label=endpoint_label, timer=timer
    )

    def context_for_profile(name: str) -> AppContext:
        chosen = resolve_connection(settings, profile=name, read_only=cli_read_only)
        return build_context(chosen, settings, activity, clock=clock, timer=timer)

    return KmsTuiApp(
        context,
        connector=EmbeddedConnector(embedded_data_dir, embedded_process),
        context_builder=context_for_profile,
        profile_names=(EMBEDDED_NAME, *sorted(settings.profiles)),
    )
