"""The console's own log file is private, even when an older one was made wider."""

from __future__ import annotations

import logging
import stat

from kms_tui import cli, paths


def test_console_log_is_narrowed_to_0600() -> None:
    log_dir = paths.ensure_private_dir(paths.log_dir())
    log_file = log_dir / "console.log"
    log_file.write_text("older run\n")
    log_file.chmod(0o644)
    console_logger = logging.getLogger("kms_tui.tui")
    before = list(console_logger.handlers)
    try:
        cli._log_console_to_file()
        assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
        assert log_file.read_text().startswith("older run")  # appended to, not replaced
    finally:
        for handler in console_logger.handlers:
            if handler not in before:
                handler.close()
                console_logger.removeHandler(handler)
        console_logger.propagate = True
