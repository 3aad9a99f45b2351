"""Entry point for ``python -m kms_tui`` and the ``kms-tui`` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; imports stay inside so ``--help`` is instant."""
    from kms_tui.cli import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
