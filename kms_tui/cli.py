"""Command-line parsing: run the console (default) or ``serve`` the embedded KMS server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kms_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``kms-tui`` and its ``serve`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="kms-tui",
        description="Keyboard-driven console for the RustFS Key Management Service.",
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
    sub = parser.add_subparsers(dest="command")
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
    return parser


def run(argv: list[str]) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from kms_tui.embedded.server import run_serve

        return run_serve(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            access_key=args.access_key,
            secret_key=args.secret_key,
            allow_immediate_deletion=args.allow_immediate_deletion,
        )
    sys.stdout.write(
        f"kms-tui {__version__}: the console is not built yet; "
        "`kms-tui serve` runs the embedded KMS server.\n"
    )
    return 0
