"""Does the console stay responsive while an impact scan runs? Keystrokes idle vs during a scan.

``python -m benchmarks.scan_ui [--objects N]`` seeds ``kms-tui serve`` as the ``scan`` case does
(10 buckets, SSE-KMS under one key), opens the console headless (Textual's pilot) against it,
opens the impact dialog of the scanned key (`i`), and times keystrokes (`tab`, which moves the
focus and repaints) from the press to the refreshed screen: first with no scan running, then
while the dialog's own scan (`s`, 32 HEADs in flight on the console's event loop) runs. It
prints both medians and their ratio (target ≤ 2×) as JSON on the last line.

In-process and headless, so this is the event loop's latency for a key and a repaint, not a
terminal's frame: what a busy loop would delay is exactly what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.scan_cases import (
    ACCESS_KEY,
    SCAN_KEY,
    SECRET_KEY,
    running_serve,
    seed,
)

PRESSES = 25


async def _measure(endpoint: str, objects: int) -> dict[str, Any]:
    from textual import events

    from kms_tui.factory import build_app
    from kms_tui.settings import Settings, resolve_connection
    from kms_tui.tui.dialogs.impact import ImpactDialog

    env = {"RUSTFS_ACCESS_KEY": ACCESS_KEY, "RUSTFS_SECRET_KEY": SECRET_KEY}
    connection = resolve_connection(Settings(), endpoint=endpoint, environ=env)
    app = build_app(connection, Settings())

    async def until(condition: Any, limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the console did not get there in time")
            await asyncio.sleep(0.02)

    async def presses(pilot: Any, count: int, still: Any) -> list[float]:
        # The pilot's own press() waits for an idle loop, which a running scan never gives, so
        # the key goes in as the terminal driver would send it, and the clock stops when the
        # focus has moved and the refresh after it has run.
        times: list[float] = []
        for _ in range(count):
            if not still():
                break
            screen = app.screen
            before = screen.focused
            started = time.perf_counter()
            app.post_message(events.Key("tab", None))
            while screen.focused is before:
                await asyncio.sleep(0.001)
            painted = asyncio.Event()
            app.call_after_refresh(painted.set)
            await painted.wait()
            times.append((time.perf_counter() - started) * 1000.0)
            await asyncio.sleep(0.05)  # a person's pace, not a flood
        return times

    async with app.run_test(size=(120, 36)) as pilot:
        await until(lambda: app.connection_state == "connected")
        keys = app.mode_screens["keys"]
        await until(lambda: SCAN_KEY in keys.command_key_ids())
        keys.jump_to_key(SCAN_KEY)
        await pilot.pause()
        await pilot.press("i")
        await until(lambda: isinstance(app.screen, ImpactDialog))
        dialog = app.screen
        assert isinstance(dialog, ImpactDialog)
        await pilot.pause()
        idle = await presses(pilot, PRESSES, lambda: True)
        await pilot.press("s")
        await until(lambda: dialog.scanning)
        started = time.perf_counter()
        busy = await presses(pilot, PRESSES, lambda: dialog.scanning)
        await until(lambda: not dialog.scanning, limit=600)
        scan_s = time.perf_counter() - started
    if len(busy) < 5:
        raise RuntimeError(
            f"the scan ({scan_s:.1f} s) ended after {len(busy)} keystrokes ({busy} ms; idle "
            f"{statistics.median(idle):.1f} ms): use more objects"
        )
    return {
        "objects": objects,
        "idle_ms": idle,
        "during_scan_ms": busy,
        "idle_median_ms": statistics.median(idle),
        "during_scan_median_ms": statistics.median(busy),
        "ratio": statistics.median(busy) / statistics.median(idle),
        "scan_s": scan_s,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan_ui")
    parser.add_argument("--objects", type=int, default=10_000, help="objects in all (10 buckets)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kms-tui-scan-ui-") as tmp:
        root = Path(tmp)
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(root / "console" / name.lower())
        with running_serve(root) as serve:
            asyncio.run(seed(serve.endpoint, root / "keys", args.objects // 10, 16))
            result = asyncio.run(_measure(serve.endpoint, args.objects))
    print(
        f"keystroke to repaint: idle {result['idle_median_ms']:.1f} ms, during the scan "
        f"{result['during_scan_median_ms']:.1f} ms ({result['ratio']:.2f}×, target ≤ 2×)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
