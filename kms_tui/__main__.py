"""Entry point for ``python -m kms_tui`` and the ``kms-tui`` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; imports stay inside so ``--help`` is instant."""
    # httpx imports its own command-line tool (click, pygments) when it can: about 35 ms of
    # start-up for code this process never runs. A None entry makes that import fail, and
    # httpx then falls back to a stub; httpx itself is unaffected.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from kms_tui.cli import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
