"""Where the packaged stylesheets live, so each screen's ``CSS_PATH`` works installed or not."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["style_path", "styles_dir"]


@cache
def styles_dir() -> Path:
    """The ``kms_tui.styles`` package directory (``styles/`` at the top of a checkout)."""
    spec = importlib.util.find_spec("kms_tui.styles")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).resolve().parent
    return Path(__file__).resolve().parents[2] / "styles"


def style_path(name: str) -> str:
    """The absolute path of one stylesheet, e.g. ``style_path("keys.tcss")``, for ``CSS_PATH``."""
    return str(styles_dir() / name)
