"""Every screen and the main dialogs at 120x36, against reviewed SVGs.

Run ``pytest tests/snapshots --snapshot-update`` after an intended change of a screen, look at
the new files in ``tests/snapshots/__snapshots__/`` (``--snapshot-report`` writes an HTML diff),
and regenerate ``screenshots/`` with ``scripts/screenshots.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.snapshots.scenes import SCENES, SCREEN_SIZE, Scene, seeded_world


@pytest.mark.parametrize("scene", SCENES, ids=[scene.name for scene in SCENES])
def test_screen_matches_snapshot(scene: Scene, snap_compare: Any, tmp_path: Path) -> None:
    with seeded_world(tmp_path) as world:
        assert snap_compare(
            world.app(read_only=scene.read_only, auditor=scene.auditor),
            terminal_size=SCREEN_SIZE,
            run_before=scene.run_before,
        )


def test_no_secret_of_the_seeded_server_is_in_any_picture() -> None:
    import base64

    from tests.snapshots.scenes import AUDITOR_SECRET_KEY, MASTER_KEY, SECRET_KEY

    root = Path(__file__).resolve().parents[2]
    pictures = [
        *sorted((root / "screenshots").glob("*.svg")),
        *sorted((root / "tests" / "snapshots" / "__snapshots__").rglob("*.svg")),
    ]
    assert len(pictures) >= 2 * len(SCENES)
    forms = [
        SECRET_KEY,
        AUDITOR_SECRET_KEY,
        MASTER_KEY,
        base64.b64encode(MASTER_KEY.encode()).decode(),
    ]
    for picture in pictures:
        text = picture.read_text(encoding="utf-8").replace("&#160;", " ")
        for secret in forms:
            assert secret not in text, picture.name
