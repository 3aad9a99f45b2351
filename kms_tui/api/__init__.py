"""The RustFS KMS clients, loaded lazily so importing ``kms_tui.api`` stays cheap.

Nothing here imports httpx or botocore until a name that needs them is first used, e.g.
``from kms_tui.api import KmsAdminClient``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.auth import SigV4Auth
    from kms_tui.api.buckets import BucketEncryptionClient

__all__ = ["BucketEncryptionClient", "KmsAdminClient", "SigV4Auth"]

_LAZY = {
    "KmsAdminClient": "kms_tui.api.admin",
    "SigV4Auth": "kms_tui.api.auth",
    "BucketEncryptionClient": "kms_tui.api.buckets",
}


def __getattr__(name: str) -> Any:
    """Import a client's module on first use of its name."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
