"""The console's first frame loads Textual and its own shell only: the client stack comes later.

What the first frame needs (the app, the Keys screen) must not import httpx, botocore, the
clients or the dialogs at module level: those load on a thread while the frame is drawn
(README, Development). A fresh interpreter shows exactly what an import pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import kms_tui.cli, kms_tui.factory, kms_tui.tui.app, kms_tui.tui.screens.keys
print(json.dumps(sorted(sys.modules)))
"""

_LATER = ("httpx", "botocore", "kms_tui.api.admin", "kms_tui.api.buckets", "kms_tui.bootstrap")
_LATER_PREFIXES = ("kms_tui.tui.dialogs.", "kms_tui.tui.screens.keys_actions")


def test_the_first_frame_imports_no_client_stack_and_no_dialogs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert "textual.app" in loaded and "kms_tui.tui.screens.keys" in loaded  # the probe ran
    early = sorted(
        name
        for name in loaded
        if name in _LATER or name.split(".")[0] in _LATER or name.startswith(_LATER_PREFIXES)
    )
    assert early == [], f"imported before the first frame: {early}"


def test_the_preloaded_stack_is_what_connecting_needs() -> None:
    probe = (
        "import sys\n"
        "from kms_tui.factory import _import_client_stack\n"
        "_import_client_stack()\n"
        "print(all(m in sys.modules for m in "
        "('httpx', 'botocore.auth', 'kms_tui.api.admin', 'kms_tui.api.buckets', "
        "'kms_tui.bootstrap')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert done.stdout.strip() == "True"
