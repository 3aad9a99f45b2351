"""Commands that act on several keys: each key's result, and exit 4 when only some succeeded.

JSON: ``{"results": [{"key_id", "ok", "key": <key> | null, "error": <error> | null, ...}],
"succeeded": N, "failed": M}``; when no key succeeded the document also carries the first
failure as ``"error"`` (the shape every failed command has). A server that stops answering
ends the run: that key and the ones after it are reported failed with that error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kms_tui.commands.errors import EXIT_OK, EXIT_PARTIAL, error_fields, exit_code_for, one_line
from kms_tui.commands.output import Output
from kms_tui.commands.session import Session

__all__ = ["Action", "run_bulk"]

Action = Callable[[Session, str], Awaitable[dict[str, Any]]]
Render = Callable[[Output, dict[str, Any]], None]


async def run_bulk(
    session: Session,
    out: Output,
    key_ids: Sequence[str],
    action: Action,
    render: Render,
    *,
    failed_before: Sequence[tuple[str, BaseException]] = (),
) -> int:
    """Run ``action`` on every key in order; write the results; return the exit code."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def failed(key_id: str, err: BaseException) -> None:
        errors.append(err)
        results.append({"key_id": key_id, "ok": False, "key": None, "error": error_fields(err)})
        out.message(f"{key_id}: {one_line(err)}")

    for key_id, err in failed_before:
        failed(key_id, err)
    for index, key_id in enumerate(key_ids):
        try:
            result = await action(session, key_id)
        except KmsTransportError as err:
            for rest in key_ids[index:]:
                failed(rest, err)
            break
        except (KmsError, ValueError) as err:
            failed(key_id, err)
            continue
        results.append({"key_id": key_id, "ok": True, **result, "error": None})
        if not out.json:
            render(out, result)
    succeeded = sum(1 for result in results if result["ok"])
    if out.json:
        doc: dict[str, Any] = {
            "results": results,
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
        }
        if not succeeded and errors:
            doc = {"error": error_fields(errors[0]), **doc}
        out.document(doc)
    if not errors:
        return EXIT_OK
    return EXIT_PARTIAL if succeeded else exit_code_for(errors[0])
