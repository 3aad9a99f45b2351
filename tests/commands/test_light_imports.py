"""The commands stay light: Textual never, rich only for a terminal, clients only when run."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fakes.serve import REPO_ROOT

_PROBE = """
import importlib, json, sys
sys.modules.setdefault("httpx._main", None)  # as kms_tui.__main__ does: httpx's own CLI
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None})))
"""


def loaded_after(*modules: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_parsing_the_command_line_loads_no_client() -> None:
    top = loaded_after("kms_tui.cli")
    assert not top & {"httpx", "botocore", "rich", "textual", "cryptography"}


def test_running_any_command_loads_no_textual_and_no_rich() -> None:
    modules = [
        f"kms_tui.commands.{name}"
        for name in (
            "runner", "session", "status", "doctor", "keys", "impact", "buckets", "backup",
            "bundle", "bulk",
        )
    ]  # fmt: skip
    loaded = loaded_after("kms_tui.cli", "kms_tui.factory", *modules)
    assert "textual" not in loaded and "rich" not in loaded
