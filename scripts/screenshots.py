"""Regenerate the SVG screenshots in ``screenshots/`` (every screen and the main dialogs).

    .venv/bin/python scripts/screenshots.py            # all of them
    .venv/bin/python scripts/screenshots.py keys help  # only these scenes

The frames are the snapshot tests' scenes (``tests/snapshots/scenes.py``): a seeded embedded
server with fixed ids and clocks, at 120x36, so a regenerated picture changes only when the
screen does.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    """Write one SVG per scene (or per named scene) and say where."""
    with tempfile.TemporaryDirectory(prefix="kms-tui-shots-") as tmp:
        # The console's own files (activity log, state) go to the temp dir, not the user's.
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(Path(tmp) / name.lower())
        from textual._doc import take_svg_screenshot

        from tests.snapshots.scenes import SCENES, SCREEN_SIZE, seeded_world

        wanted = set(argv)
        unknown = wanted - {scene.name for scene in SCENES}
        if unknown:
            print(f"unknown scene(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        out = ROOT / "screenshots"
        out.mkdir(exist_ok=True)
        for scene in SCENES:
            if wanted and scene.name not in wanted:
                continue
            with seeded_world(Path(tmp) / scene.name) as world:
                svg = take_svg_screenshot(
                    app=world.app(read_only=scene.read_only, auditor=scene.auditor),
                    terminal_size=SCREEN_SIZE,
                    run_before=scene.run_before,
                    title=f"kms-tui — {scene.caption}",
                )
            path = out / f"{scene.name}.svg"
            path.write_text(svg, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
