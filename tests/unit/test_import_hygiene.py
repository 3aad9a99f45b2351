"""The layers cannot leak: api/ and embedded/ import neither Textual nor each other.

Each layer is imported in a fresh interpreter, one module at a time, so a failure names the
module that first pulled in something forbidden. Modules are found by globbing, so new files
are covered without editing this test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kms_tui"

_PROBE = """
import importlib, json, sys
modules, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
report = {}
def loaded():
    return sorted(
        name for name in sys.modules
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )
for module in modules:
    importlib.import_module(module)
    now = loaded()
    if now:
        report[module] = now
        break
print(json.dumps(report))
"""


def modules_of(package_dir: Path) -> list[str]:
    """Dotted names of the package and every module file directly inside it."""
    package = ".".join(package_dir.relative_to(ROOT).parts)
    names = [package]
    for path in sorted(package_dir.glob("*.py")):
        if path.stem != "__init__":
            names.append(f"{package}.{path.stem}")
    return names


def first_leak(modules: list[str], forbidden: list[str]) -> dict[str, list[str]]:
    """Import ``modules`` in order in a clean interpreter; report the first forbidden import."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules), json.dumps(forbidden)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, list[str]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_globs_find_the_known_modules() -> None:
    api = modules_of(PACKAGE / "api")
    embedded = modules_of(PACKAGE / "embedded")
    assert {"kms_tui.api", "kms_tui.api.errors", "kms_tui.api.buckets"} <= set(api)
    assert {"kms_tui.embedded", "kms_tui.embedded.sigv4", "kms_tui.embedded.timefmt"} <= set(
        embedded
    )


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("api", ["textual", "kms_tui.tui", "kms_tui.embedded"]),
        ("embedded", ["textual", "kms_tui.tui", "kms_tui.api"]),
    ],
)
def test_layer_imports_stay_inside_their_bounds(layer: str, forbidden: list[str]) -> None:
    modules = modules_of(PACKAGE / layer)
    assert first_leak(modules, forbidden) == {}


def test_settings_and_paths_import_no_layer() -> None:
    modules = ["kms_tui", "kms_tui.paths", "kms_tui.settings"]
    forbidden = ["textual", "kms_tui.tui", "kms_tui.api", "kms_tui.embedded"]
    assert first_leak(modules, forbidden) == {}


def test_paths_defers_platformdirs() -> None:
    assert first_leak(["kms_tui.paths"], ["platformdirs"]) == {}


def test_probe_detects_a_leak() -> None:
    """The probe itself works: importing Textual's app module is reported, json is not."""
    report = first_leak(["json", "textual.app"], ["textual"])
    assert list(report) == ["textual.app"]
    assert {"textual", "textual.app"} <= set(report["textual.app"])
