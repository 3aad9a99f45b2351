"""How a client error reads on screen and in the activity log: the operator's words first."""

from __future__ import annotations

from kms_tui.api.errors import KmsError

__all__ = ["error_text", "explain"]


def explain(err: KmsError) -> str:
    """What happened in an operator's words (where the error has them), then the server's."""
    message = err.message or type(err).__name__
    hint = err.hint
    if hint and hint.lower() not in message.lower():
        return f"{hint} (server: {message})"
    return message


def error_text(err: KmsError) -> str:
    """:func:`explain`, with the request id when the server gave one."""
    text = explain(err)
    if err.request_id:
        text += f" (request id {err.request_id})"
    return text
