"""Command-line parsing: run the console (default), ``serve`` the embedded KMS server, or run
one scripting command (``status``, ``doctor``, ``keys``, ``buckets``, ``backup``; see
:mod:`kms_tui.commands`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from kms_tui import __version__
from kms_tui.commands.parser import COMMAND_NAMES, add_commands


class UsageError(Exception):
    """Bad arguments: reported on one line (and as JSON with ``--json``), exit 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of the usage block (sub-parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``kms-tui``, its ``serve`` subcommand and the commands."""
    parser = _Parser(
        prog="kms-tui",
        description="Keyboard-driven console for the RustFS Key Management Service.",
        epilog="With no COMMAND the console opens. Global options go before the COMMAND; "
        "every command takes --json. Exit codes: 0 done, 1 the server refused or failed, "
        "2 usage, configuration, read-only or a missing --yes, 3 server unreachable, "
        "4 partly done, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"kms-tui {__version__}")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--profile", metavar="NAME", help="connect with a profile from the config")
    target.add_argument(
        "--endpoint",
        metavar="URL",
        help="connect to this RustFS server; credentials from RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="disable every action that changes anything"
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help="config file (default: KMS_TUI_CONFIG or the platform config directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the embedded RustFS-compatible KMS server in the foreground",
        description="Run the embedded RustFS-compatible KMS server in the foreground.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=9000, help="port to bind; 0 picks a free one (default 9000)"
    )
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="data directory (default: platform data path)"
    )
    serve.add_argument("--access-key", default=None, help="access key (else RUSTFS_ACCESS_KEY)")
    serve.add_argument("--secret-key", default=None, help="secret key (else RUSTFS_SECRET_KEY)")
    serve.add_argument(
        "--allow-immediate-deletion",
        action="store_true",
        help="accept force_immediate key deletion (with confirm_key_id)",
    )
    serve.add_argument(
        "--max-object-size",
        metavar="SIZE",
        default=None,
        help="largest object a PutObject may store: bytes, or with K, M, G, T (binary units);"
        " larger ones are refused with EntityTooLarge (default 5GiB)",
    )
    serve.add_argument(
        "--users",
        metavar="FILE",
        type=Path,
        default=None,
        help="TOML file of restricted accounts and their IAM policies (see README: least "
        "privilege); the root credential stays the administrator",
    )
    add_commands(sub)
    return parser


def _usage_error(err: UsageError, argv: list[str]) -> int:
    """One line on stderr; with ``--json``/``--ndjson`` also the JSON error document."""
    if "--json" in argv or "--ndjson" in argv:
        error = {"code": "UsageError", "message": err.message, "status": None, "request_id": None}
        sys.stdout.write(json.dumps({"error": error}, indent=2) + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"{err.prog}: error: {err.message} (see `{err.prog} --help`)\n")
    return 2


def run(argv: list[str]) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        return _usage_error(err, argv)
    if args.command in COMMAND_NAMES:
        from kms_tui.commands.runner import run_command

        return run_command(args)
    if args.command == "serve":
        from kms_tui.embedded.server import run_serve

        return run_serve(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            access_key=args.access_key,
            secret_key=args.secret_key,
            allow_immediate_deletion=args.allow_immediate_deletion,
            max_object_size=args.max_object_size,
            users_file=args.users,
        )
    return run_console(args)


def run_console(args: argparse.Namespace) -> int:
    """Open the console (Textual is imported only here); settings problems exit 2."""
    from kms_tui.settings import SettingsError, resolve_connection
    from kms_tui.settings_reader import load_settings

    try:
        settings = load_settings(args.config)
        connection = resolve_connection(
            settings, profile=args.profile, endpoint=args.endpoint, read_only=args.read_only
        )
    except SettingsError as err:
        sys.stderr.write(f"kms-tui: {err}\n")
        return 2
    early = None
    if connection.is_embedded:
        # Start the embedded server now, in its own process: it opens the key store on the
        # other core while this one loads Textual.
        from kms_tui import paths
        from kms_tui.embedded.child import EmbeddedProcess

        early = EmbeddedProcess(
            paths.server_data_dir(),
            access_key=connection.access_key,
            secret_key=connection.secret_key,
            users_file=connection.users_file,
        ).spawn()
    try:
        from kms_tui.factory import build_app, preload_client_stack

        # The client stack (httpx, botocore's signer, the models) loads on a thread: it takes
        # the CPU whenever the UI thread waits (the terminal, the first paint), not after it.
        preload_client_stack()
        _log_console_to_file()
        app = build_app(connection, settings, cli_read_only=args.read_only, embedded_process=early)
        try:
            app.run()
        finally:
            app.context.run_cleanups_now()
    finally:
        if early is not None:
            early.stop()
    return app.return_code or 0


def _log_console_to_file() -> None:
    """The console's own logs go to a 0600 file: nothing but Textual may write to the tty."""
    import logging
    import os

    from kms_tui import paths

    try:
        log_dir = paths.ensure_private_dir(paths.log_dir())
        log_file = log_dir / "console.log"
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older file may have been made with a wider mode
        finally:
            os.close(fd)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console_logger = logging.getLogger("kms_tui.tui")
    console_logger.addHandler(handler)
    console_logger.propagate = False
